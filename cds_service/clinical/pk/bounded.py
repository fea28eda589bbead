"""The bounded scalar minimiser of the MAP fit: Brent's method on an interval (golden section with
parabolic steps), as `scipy.optimize.minimize_scalar(method="bounded")` runs it.

A line-for-line port of SciPy 1.17's `_minimize_scalar_bounded` (same steps, same numpy arithmetic,
so the same eta to the last bit: tests/clinical/pk/test_bounded.py compares them), so that a worker
does not import SciPy (about 38 MB of memory and 0.7 s per process) for one 1-D minimisation
(issue #15, decision 0131).

Copyright (c) 2001-2002 Enthought, Inc. 2003, SciPy Developers. All rights reserved. Redistributed
under SciPy's BSD 3-Clause licence: redistributions of source code must retain this copyright
notice, this list of conditions and the following disclaimer. Neither the name of the copyright
holder nor the names of its contributors may be used to endorse or promote products derived from
this software without specific prior written permission. THIS SOFTWARE IS PROVIDED BY THE
COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT OWNER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT,
INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES ARISING IN ANY WAY OUT OF THE USE OF THIS
SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import sqrt
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Minimum:
    x: float
    fun: float
    success: bool  # False: the iteration cap was reached, or a value was NaN


def minimize_bounded(func: Callable[[float], float], low: float, high: float, *, xatol: float = 1e-5,
                     maxiter: int = 500) -> Minimum:
    """The minimum of `func` on [low, high], to within `xatol` in x."""
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise ValueError("the bounds must be finite, low <= high")
    flag = 0
    sqrt_eps = sqrt(2.2e-16)
    golden_mean = 0.5 * (3.0 - sqrt(5.0))
    a: Any = low
    b: Any = high
    fulc: Any = a + golden_mean * (b - a)
    nfc, xf = fulc, fulc
    rat: Any = 0.0
    e: Any = 0.0
    x: Any = xf
    fx: Any = func(x)
    num = 1
    fu: Any = np.inf
    ffulc = fnfc = fx
    xm = 0.5 * (a + b)
    tol1 = sqrt_eps * np.abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    while np.abs(xf - xm) > (tol2 - 0.5 * (b - a)):
        golden = 1
        if np.abs(e) > tol1:  # try a parabolic fit
            golden = 0
            r = (xf - nfc) * (fx - ffulc)
            q = (xf - fulc) * (fx - fnfc)
            p = (xf - fulc) * q - (xf - nfc) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = np.abs(q)
            r = e
            e = rat
            if (np.abs(p) < np.abs(0.5 * q * r)) and (p > q * (a - xf)) and (p < q * (b - xf)):
                rat = (p + 0.0) / q
                x = xf + rat
                if ((x - a) < tol2) or ((b - x) < tol2):
                    si = np.sign(xm - xf) + ((xm - xf) == 0)
                    rat = tol1 * si
            else:
                golden = 1
        if golden:  # a golden-section step
            e = a - xf if xf >= xm else b - xf
            rat = golden_mean * e
        si = np.sign(rat) + (rat == 0)
        x = xf + si * np.maximum(np.abs(rat), tol1)
        fu = func(x)
        num += 1
        if fu <= fx:
            if x >= xf:
                a = xf
            else:
                b = xf
            fulc, ffulc = nfc, fnfc
            nfc, fnfc = xf, fx
            xf, fx = x, fu
        else:
            if x < xf:
                a = x
            else:
                b = x
            if (fu <= fnfc) or (nfc == xf):
                fulc, ffulc = nfc, fnfc
                nfc, fnfc = x, fu
            elif (fu <= ffulc) or (fulc == xf) or (fulc == nfc):  # noqa: SIM109 (as ported: `in` differs for NaN)
                fulc, ffulc = x, fu
        xm = 0.5 * (a + b)
        tol1 = sqrt_eps * np.abs(xf) + xatol / 3.0
        tol2 = 2.0 * tol1
        if num >= maxiter:
            flag = 1
            break
    if np.isnan(xf) or np.isnan(fx) or np.isnan(fu):
        flag = 2
    return Minimum(x=float(xf), fun=float(fx), success=flag == 0)
