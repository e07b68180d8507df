// The W3 likelihood fit through ferrograd's C ABI, checked against RooFit in the same macro.
//
//   source scripts/root-env.sh                 # builds libferrograd_capi, sets the paths
//   root -b -q examples/root/fit_likelihood.C  # or fit_likelihood.C+ (ACLiC), or '...C(20000)'
//
// Events are made with RDataFrame (Gaussian signal at 3.0 ± 0.8 on an exp(-0.3 x) background,
// signal fraction 0.3, x in [0, 10]), taken as one std::vector<double>, fitted by ferrograd
// (L-BFGS on the compile-time gradient, errors from the exact Hessian) and by RooFit
// (RooGaussian + RooExponential in a RooAddPdf, MIGRAD + HESSE). Prints one `param` line per
// parameter, the times, and `fit_likelihood: OK` when values agree to 1e-4 and errors to 1%.

R__LOAD_LIBRARY(libferrograd_capi)

#include "ferrograd.h"

#include <ROOT/RDataFrame.hxx>
#include <RooAddPdf.h>
#include <RooArgList.h>
#include <RooArgSet.h>
#include <RooDataSet.h>
#include <RooExponential.h>
#include <RooGaussian.h>
#include <RooMinimizer.h>
#include <RooMsgService.h>
#include <RooRealVar.h>
#include <TRandom3.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

namespace {
double secondsSince(std::chrono::steady_clock::time_point t0)
{
   return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

int fit_likelihood(int nEvents = 100000, unsigned seed = 1)
{
   const double lo = 0.0, hi = 10.0;
   const double start[4] = {2.8, 1.0, -0.2, 0.5};
   const char *names[4] = {"mean", "sigma", "c", "frac"};

   // Events with RDataFrame (single-threaded: one generator, reproducible order).
   TRandom3 rng(seed);
   const double c = -0.3, elo = std::exp(c * lo), ehi = std::exp(c * hi);
   auto df = ROOT::RDataFrame(nEvents)
                .Define("signal", [&rng] { return rng.Uniform() < 0.3; })
                .Define("x",
                        [&rng, c, elo, ehi](bool s) {
                           return s ? rng.Gaus(3.0, 0.8) : std::log(elo + rng.Uniform() * (ehi - elo)) / c;
                        },
                        {"signal"})
                .Filter([lo, hi](double x) { return x >= lo && x <= hi; }, {"x"});
   auto xs = df.Take<double>("x");
   const std::vector<double> &x = *xs;
   printf("events: %zu\n", x.size());

   // ferrograd through the C ABI.
   FerrogradFitModel *model = nullptr;
   if (ferrograd_fit_model_new(lo, hi, &model) != FERROGRAD_STATUS_OK) {
      printf("error: %s\n", ferrograd_last_error());
      return 1;
   }
   // Bad input is an error string, not a crash.
   double nan_params[4] = {3.0, NAN, -0.3, 0.3}, nll = 0, grad[4];
   FerrogradStatus st = ferrograd_fit_nll(model, nan_params, 4, x.data(), x.size(), &nll, grad, 4);
   printf("bad input: status %d: %s\n", (int)st, ferrograd_last_error());

   FerrogradFitResult r;
   auto t0 = std::chrono::steady_clock::now();
   st = ferrograd_fit_run(model, x.data(), x.size(), start, 4, &r);
   const double tFerrograd = secondsSince(t0);
   if (st != FERROGRAD_STATUS_OK) {
      printf("error: fit: %s\n", ferrograd_last_error());
      ferrograd_fit_model_free(model);
      return 1;
   }
   const int reps = 20;
   t0 = std::chrono::steady_clock::now();
   for (int i = 0; i < reps; i++)
      ferrograd_fit_nll(model, r.values, 4, x.data(), x.size(), &nll, grad, 4);
   const double tGrad = secondsSince(t0) / reps;
   ferrograd_fit_model_free(model);

   // RooFit on the same events.
   RooMsgService::instance().setGlobalKillBelow(RooFit::WARNING);
   RooRealVar xv("x", "x", lo, hi);
   RooRealVar mean("mean", "mean", start[0], lo, hi);
   RooRealVar sigma("sigma", "sigma", start[1], 1e-3, hi - lo);
   RooRealVar cv("c", "c", start[2], -10.0, -1e-6);
   RooRealVar frac("frac", "frac", start[3], 0.0, 1.0);
   RooGaussian gauss("gauss", "gauss", xv, mean, sigma);
   RooExponential expo("expo", "expo", xv, cv);
   RooAddPdf pdf("pdf", "pdf", RooArgList(gauss, expo), RooArgList(frac));
   RooDataSet data("data", "data", RooArgSet(xv));
   for (double v : x) {
      xv.setVal(v);
      data.add(RooArgSet(xv));
   }
   std::unique_ptr<RooAbsReal> rnll{pdf.createNLL(data, RooFit::EvalBackend("cpu"))};
   RooMinimizer minim(*rnll);
   minim.setPrintLevel(-1);
   minim.setStrategy(2);
   minim.setEps(1e-4);
   t0 = std::chrono::steady_clock::now();
   const int migrad = minim.minimize("Minuit2", "migrad");
   const int hesse = minim.hesse();
   const double tRooFit = secondsSince(t0);
   t0 = std::chrono::steady_clock::now();
   for (int i = 0; i < reps; i++) {
      mean.setVal(r.values[0] + 1e-9 * (i % 2)); // defeat the value cache
      rnll->getVal();
   }
   const double tRooNll = secondsSince(t0) / reps;

   RooRealVar *rv[4] = {&mean, &sigma, &cv, &frac};
   bool ok = migrad == 0 && hesse == 0;
   for (int k = 0; k < 4; k++) {
      const double dv = std::abs(r.values[k] - rv[k]->getVal()) / std::abs(rv[k]->getVal());
      const double de = std::abs(r.errors[k] - rv[k]->getError()) / rv[k]->getError();
      printf("param %s ferrograd %.10g %.10g roofit %.10g %.10g reldiff %.3g %.3g\n", names[k], r.values[k],
             r.errors[k], rv[k]->getVal(), rv[k]->getError(), dv, de);
      ok = ok && dv <= 1e-4 && de <= 1e-2;
   }
   printf("times: ferrograd fit %.1f ms, RooFit MIGRAD+HESSE %.1f ms; ferrograd NLL+gradient %.3f ms, "
          "RooFit NLL %.3f ms (numeric gradient = 8 NLLs)\n",
          1e3 * tFerrograd, 1e3 * tRooFit, 1e3 * tGrad, 1e3 * tRooNll);
   printf("fit_likelihood: %s\n", ok ? "OK" : "MISMATCH");
   return ok ? 0 : 1;
}
