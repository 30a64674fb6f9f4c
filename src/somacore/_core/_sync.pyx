# cython: language_level=3
"""Group (cluster-phase) synchrony kernel (private).

Contract (see somacore/_core/__init__.py): nothing is validated here; the
public layer (:mod:`somacore.synchrony.group`) forms the unit phasors, their
window means and the window starts. Loops run without the GIL.
"""

cimport cython
from libc.math cimport sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc


@cython.final
cdef class ClusterPhaseWindows:
    """Cluster-phase rho (Richardson et al. 2012) recomputed in every window.

    ``run(u, z, starts, W, out)``: ``u`` holds the unit phasors of the phases
    relative to the cluster phase, ``exp(1j * (phi_i(t) - q(t)))``, as float64
    (n_samples, n_people, 2) (real, imaginary; the people of one instant are
    adjacent), and ``z`` (n_windows, n_people, 2) their mean over each window
    ``[a, a + W)`` with ``a = starts[k]``. With ``c_i = conj(z_i) / |z_i|``
    (the rotation by -phibar_i; 1 if ``z_i = 0``) it writes
    ``out[k] = mean_t |mean_i u_i(t) * c_i|`` (the windowed rho_group).
    """

    def run(self, const double[:, :, ::1] u, const double[:, :, ::1] z,
            const int64_t[::1] starts, Py_ssize_t W, double[::1] out):
        cdef Py_ssize_t P = u.shape[1]
        cdef Py_ssize_t nw = starts.shape[0]
        cdef Py_ssize_t k, i, t, a
        cdef double* cr = <double*>malloc(2 * P * sizeof(double))
        cdef double zr, zi, m, sr, si, acc, ur, ui
        cdef double invP = 1.0 / <double>P
        cdef const double* ut
        if cr == NULL:
            raise MemoryError()
        try:
            with nogil:
                for k in range(nw):
                    a = starts[k]
                    for i in range(P):
                        zr = z[k, i, 0]
                        zi = z[k, i, 1]
                        m = sqrt(zr * zr + zi * zi)
                        if m > 0.0:
                            cr[2 * i] = zr / m
                            cr[2 * i + 1] = -zi / m
                        else:
                            cr[2 * i] = 1.0
                            cr[2 * i + 1] = 0.0
                    acc = 0.0
                    for t in range(a, a + W):
                        ut = &u[t, 0, 0]
                        sr = 0.0
                        si = 0.0
                        for i in range(P):
                            ur = ut[2 * i]
                            ui = ut[2 * i + 1]
                            sr += ur * cr[2 * i] - ui * cr[2 * i + 1]
                            si += ur * cr[2 * i + 1] + ui * cr[2 * i]
                        acc += sqrt(sr * sr + si * si)
                    out[k] = acc * invP / W
        finally:
            free(cr)
