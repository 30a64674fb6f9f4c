"""Private compiled kernels. Not a public API: import from ``somacore`` instead.

Contract of every kernel module here:

- one ``cdef class`` per algorithm, holding all state of one channel;
  ``process(chunk)`` consumes samples and returns only what is new,
  ``flush()`` finishes the record; any chunking gives the same result;
- inner loops run without the GIL, on typed memoryviews (float64, float32,
  int16, int32 are read in place, no conversion copy);
- kernels validate nothing: ``somacore._validate`` and the public modules check
  user input and design every parameter, in seconds, before converting them
  to samples here.
"""
