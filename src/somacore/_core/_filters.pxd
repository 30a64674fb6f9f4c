# Shared inline DSP building blocks for the compiled kernels.
#
# Everything here is `nogil` and allocation-free so that it can sit in the
# per-sample inner loop of a kernel. Coefficients are designed in Python
# (somacore._design) and copied into these structs once, at kernel creation.

cdef struct Biquad:
    double b0, b1, b2, a1, a2
    double z1, z2


cdef inline double biquad_step(Biquad* f, double x) noexcept nogil:
    # Transposed direct form II: the numerically best-behaved form for
    # floating point, two state variables per section.
    cdef double y = f.b0 * x + f.z1
    f.z1 = f.b1 * x - f.a1 * y + f.z2
    f.z2 = f.b2 * x - f.a2 * y
    return y


cdef inline double biquad_settle(Biquad* f, double x) noexcept nogil:
    # Put the section in the steady state it would reach after an infinitely
    # long constant input `x`, and return that steady output. Starting a
    # filter this way avoids the start-up transient a zero state would give
    # (which would look like a huge first "beat").
    cdef double den = 1.0 + f.a1 + f.a2
    cdef double y = x * (f.b0 + f.b1 + f.b2) / den if den != 0.0 else 0.0
    f.z2 = f.b2 * x - f.a2 * y
    f.z1 = f.b1 * x - f.a1 * y + f.z2
    return y


cdef inline void load_sections(Biquad* initial, Biquad* live, const double* sos,
                               int n) noexcept nogil:
    # Copy n rows (b0, b1, b2, a1, a2) of a section cascade into a kernel's
    # pristine copy (used to restart after gaps) and its running copy.
    cdef int i
    for i in range(n):
        initial[i].b0 = sos[5 * i]
        initial[i].b1 = sos[5 * i + 1]
        initial[i].b2 = sos[5 * i + 2]
        initial[i].a1 = sos[5 * i + 3]
        initial[i].a2 = sos[5 * i + 4]
        initial[i].z1 = 0.0
        initial[i].z2 = 0.0
        live[i] = initial[i]
