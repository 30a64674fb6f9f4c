"""Multi-person synchrony: how two or more nervous systems move together.

Input: one row per person on a common time base, shape (n_people, n_samples)
(or two 1-D arrays), e.g. heart rate from :func:`somacore.heart_rate`,
breathing rate, motion energy, any evenly sampled series. People recorded on
different devices are put on one time base with :func:`align_series`.

Measures, one module each:

- :func:`windowed_xcorr` (:mod:`.xcorr`): lagged windowed Pearson r at full
  sample resolution, peak picking, lead/lag summaries;
- :func:`concordance` (:mod:`.concordance`): Marci's slope concordance index
  and local-slope sign concordance;
- :func:`phase_synchrony` (:mod:`.phase`): Hilbert phase, windowed PLV;
  :func:`band_phasors` computes the Hilbert phase once for several measures;
- :func:`group_synchrony` (:mod:`.group`): Kuramoto order parameter and
  cluster-phase rho;
- :func:`surrogate_test`, :func:`pseudo_pairs` (:mod:`.surrogates`): null
  distributions, p-values and SUSY-style effect sizes; :class:`XcorrMeasure`
  (:mod:`.xcorr_shifts`) lets circular-shift surrogates of
  :func:`windowed_xcorr` share the record's spectra.

Importing this package loads no compiled kernel; the kernels are imported on
first use.
"""

from __future__ import annotations

from somacore.synchrony.align import Aligned, align_series
from somacore.synchrony.concordance import Concordance, concordance, local_slopes
from somacore.synchrony.group import GroupSynchrony, group_synchrony
from somacore.synchrony.phase import (
    BandPhasors,
    PhaseSynchrony,
    analytic_signal,
    band_phasors,
    phase_synchrony,
)
from somacore.synchrony.surrogates import SurrogateTest, pseudo_pairs, surrogate_test
from somacore.synchrony.xcorr import (
    FLAG_CONST_I,
    FLAG_CONST_J,
    FLAG_GAP,
    FLAG_NO_PEAK,
    WindowedXcorr,
    XcorrSummary,
    windowed_xcorr,
)
from somacore.synchrony.xcorr_shifts import XcorrMeasure

__all__ = [
    "FLAG_CONST_I",
    "FLAG_CONST_J",
    "FLAG_GAP",
    "FLAG_NO_PEAK",
    "Aligned",
    "BandPhasors",
    "Concordance",
    "GroupSynchrony",
    "PhaseSynchrony",
    "SurrogateTest",
    "WindowedXcorr",
    "XcorrMeasure",
    "XcorrSummary",
    "align_series",
    "analytic_signal",
    "band_phasors",
    "concordance",
    "group_synchrony",
    "local_slopes",
    "phase_synchrony",
    "pseudo_pairs",
    "surrogate_test",
    "windowed_xcorr",
]
