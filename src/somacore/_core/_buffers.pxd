# Growable output buffers shared by the compiled kernels.
#
# A kernel appends events (beats, breaths, gap ranges) inside its nogil
# sample loop and hands them to Python at the end of each ``process`` call.
# An allocation failure cannot raise inside the loop, so it is recorded in
# ``failed`` and the kernel raises MemoryError as soon as it holds the GIL
# again: an event is never dropped silently.

from libc.stdlib cimport free, realloc
from libc.string cimport memcpy


cdef struct Buf:
    char* data
    Py_ssize_t n        # items held
    Py_ssize_t cap      # items allocated
    Py_ssize_t size     # bytes per item
    bint failed         # an allocation failed


cdef inline void buf_init(Buf* b, Py_ssize_t itemsize) noexcept nogil:
    b.data = NULL
    b.n = 0
    b.cap = 0
    b.size = itemsize
    b.failed = False


cdef inline void* buf_push(Buf* b) noexcept nogil:
    # Room for one more item at the end (doubling growth); NULL when out of
    # memory, with ``failed`` set.
    cdef char* p
    cdef Py_ssize_t cap
    if b.n == b.cap:
        cap = 2 * b.cap if b.cap > 0 else 64
        p = <char*> realloc(b.data, cap * b.size)
        if p == NULL:
            b.failed = True
            return NULL
        b.data = p
        b.cap = cap
    p = b.data + b.n * b.size
    b.n += 1
    return p


cdef inline void buf_drain(Buf* b, void* dst) noexcept nogil:
    # Copy every item to ``dst`` (room for ``b.n`` items) and empty the buffer;
    # its memory is kept for the next chunk, so an endless stream stays flat.
    if b.n > 0:
        memcpy(dst, b.data, b.n * b.size)
    b.n = 0


cdef inline void buf_free(Buf* b) noexcept nogil:
    free(b.data)
    b.data = NULL
    b.n = 0
    b.cap = 0
