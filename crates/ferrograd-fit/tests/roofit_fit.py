"""Fit the W3 model with RooFit (MIGRAD + HESSE) on events from a text file; print JSON.

usage: roofit_fit.py EVENTS.txt LO HI MEAN0 SIGMA0 C0 FRAC0

The same model as ferrograd_fit::model::nll: RooAddPdf(frac*RooGaussian + (1-frac)*RooExponential)
on x in [LO, HI], non-extended. Also times one NLL evaluation (CPU backend) and, if the codegen
backend works in this ROOT, its NLL and gradient (RooFit's AD through Clad).
"""
import json
import sys
import time
import warnings

warnings.simplefilter("ignore")
import numpy as np  # noqa: E402
import ROOT  # noqa: E402

ROOT.gROOT.SetBatch(True)
ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)


def build(lo, hi, start):
    ws = {}
    x = ROOT.RooRealVar("x", "x", lo, hi)
    mean = ROOT.RooRealVar("mean", "mean", start[0], lo, hi)
    sigma = ROOT.RooRealVar("sigma", "sigma", start[1], 1e-3, hi - lo)
    c = ROOT.RooRealVar("c", "c", start[2], -10.0, -1e-6)
    frac = ROOT.RooRealVar("frac", "frac", start[3], 0.0, 1.0)
    gauss = ROOT.RooGaussian("gauss", "gauss", x, mean, sigma)
    expo = ROOT.RooExponential("expo", "expo", x, c)
    model = ROOT.RooAddPdf("model", "model", ROOT.RooArgList(gauss, expo), ROOT.RooArgList(frac))
    ws.update(x=x, mean=mean, sigma=sigma, c=c, frac=frac, gauss=gauss, expo=expo, model=model)
    return ws


def time_calls(fn, reps):
    fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def main():
    path, lo, hi = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    start = [float(v) for v in sys.argv[4:8]]
    events = np.loadtxt(path, dtype=np.float64, ndmin=1)
    ws = build(lo, hi, start)
    params = [ws[n] for n in ("mean", "sigma", "c", "frac")]
    data = ROOT.RooDataSet.from_numpy({"x": events}, ROOT.RooArgSet(ws["x"]))

    nll = ws["model"].createNLL(data, EvalBackend="cpu")
    minim = ROOT.RooMinimizer(nll)
    minim.setPrintLevel(-1)
    minim.setStrategy(2)
    minim.setEps(1e-4)  # MIGRAD's EDM goal ~1e-7 instead of the default ~1e-3
    t0 = time.perf_counter()
    minim.minimize("Minuit2", "migrad")
    t_migrad = time.perf_counter() - t0
    t0 = time.perf_counter()
    minim.hesse()
    t_hesse = time.perf_counter() - t0
    res = minim.save()
    cov = res.covarianceMatrix()  # in the order of floatParsFinal
    final = [p.GetName() for p in res.floatParsFinal()]
    order = [final.index(p.GetName()) for p in params]
    out = {
        "root_version": ROOT.gROOT.GetVersion(),
        "status": res.status(),
        "cov_qual": res.covQual(),
        "edm": res.edm(),
        "min_nll": res.minNll(),
        "values": [p.getVal() for p in params],
        "errors": [p.getError() for p in params],
        "covariance": [[cov[order[i]][order[j]] for j in range(4)] for i in range(4)],
        "t_migrad_s": t_migrad,
        "t_hesse_s": t_hesse,
        "n_events": int(events.size),
    }
    # One NLL evaluation; Minuit's numeric gradient costs 2 per parameter (8 NLL calls).
    # Moving a parameter each call defeats RooFit's value cache.
    m0 = params[0].getVal()
    flip = [0]

    def eval_cpu():
        flip[0] ^= 1
        params[0].setVal(m0 + 1e-9 * flip[0])
        return nll.getVal()

    out["t_nll_cpu_s"] = time_calls(eval_cpu, 20)
    params[0].setVal(m0)
    # codegen needs Clad inside ROOT; without it RooFit logs an error and falls back to the CPU
    # backend (a plain RooNLLVar-like object without `gradient`), so look at the class first.
    nll_cg = ws["model"].createNLL(data, EvalBackend="codegen")
    out["codegen_class"] = nll_cg.ClassName()
    if "FuncWrapper" in nll_cg.ClassName():
        out["t_nll_codegen_s"] = time_calls(lambda: nll_cg.getVal(), 20)
        grad = np.zeros(4)
        out["t_grad_codegen_s"] = time_calls(lambda: nll_cg.gradient(grad), 20)
    else:
        out["codegen_error"] = "RooFit in this ROOT was built without clad (codegen unavailable)"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
