// The gravitational-wave classifier (W2 1D-CNN) trained and applied inside ROOT.
//
//   source scripts/root-env.sh
//   root -b -q examples/root/gw_classifier.C       # or gw_classifier.C+ (ACLiC)
//   root -b -q 'examples/root/gw_classifier.C(400, 300, 512, 2, 10, 25)'   # small and quick
//
// 1. ferrograd simulates whitened strain (noise, and noise + chirp at an SNR drawn from
//    [snrMin, snrMax]) into gw_train.root and, with another seed, gw_test.root (tree `gw`:
//    strain[nSamples]/F, label/b, snr/F, injection parameters).
// 2. An RDataFrame selection on the training file (Define the whitened RMS and peak, Filter
//    on them as a data-quality cut, wide enough not to sculpt the signals: loud chirps raise
//    the RMS) is taken into buffers (Take of the strain RVecs) and trains the CNN through the
//    C ABI, one epoch per call (the model keeps Adam's state between calls).
// 3. The model scores every entry of the held-out file; the scores go back as a friend tree
//    (gw_scores.root, tree `scores`, branch `score`, same entry order), are read through
//    AddFriend for the ROC AUC and a score histogram per class (gw_classifier_scores.png).
// Prints `predictions: N`, `test AUC: X` and `gw_classifier: OK` when the AUC is above 0.9.

R__LOAD_LIBRARY(libferrograd_capi)

#include "ferrograd.h"

#include <ROOT/RDataFrame.hxx>
#include <ROOT/RVec.hxx>
#include <TCanvas.h>
#include <TFile.h>
#include <TH1D.h>
#include <TLegend.h>
#include <TTree.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <vector>

// ROC AUC: the probability that a signal scores above a noise segment (ties count half).
static double gwAuc(const std::vector<float> &score, const std::vector<unsigned char> &label)
{
   std::vector<size_t> idx(score.size());
   std::iota(idx.begin(), idx.end(), 0);
   std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
   double rankSum = 0, nSig = 0;
   for (size_t i = 0; i < idx.size();) {
      size_t j = i;
      while (j < idx.size() && score[idx[j]] == score[idx[i]])
         j++;
      const double rank = 0.5 * (i + 1 + j); // mean 1-based rank of the tie group
      for (size_t k = i; k < j; k++)
         if (label[idx[k]] == 1) {
            rankSum += rank;
            nSig++;
         }
      i = j;
   }
   const double nBkg = score.size() - nSig;
   if (nSig == 0 || nBkg == 0)
      return 0.5;
   return (rankSum - nSig * (nSig + 1) / 2) / (nSig * nBkg);
}

int gw_classifier(int nTrain = 4000, int nTest = 2000, int nSamples = 2048, int epochs = 4,
                  double snrMin = 8, double snrMax = 20)
{
   auto fail = [](const char *what) {
      printf("error: %s: %s\n", what, ferrograd_last_error());
      return 1;
   };

   // 1. The data sets, made by ferrograd.
   FerrogradGwDataset info;
   if (ferrograd_gw_write_dataset("gw_train.root", "gw", nTrain, nSamples, 1, snrMin, snrMax, &info) !=
       FERROGRAD_STATUS_OK)
      return fail("training set");
   printf("gw_train.root: %llu entries (%llu with a chirp), %zu samples each\n",
          (unsigned long long)info.entries, (unsigned long long)info.signals, info.n_samples);
   if (ferrograd_gw_write_dataset("gw_test.root", "gw", nTest, nSamples, 2, snrMin, snrMax, &info) !=
       FERROGRAD_STATUS_OK)
      return fail("test set");
   const size_t len = info.n_samples;

   // 2. The selection, taken into buffers.
   ROOT::RDataFrame train("gw", "gw_train.root");
   auto sel = train.Define("rms", "sqrt(Mean(strain * strain))")
                 .Define("peak", "Max(abs(strain))")
                 .Filter("rms > 0.5 && rms < 3", "whitened: unit-scale RMS")
                 .Filter("peak < 10", "no loud glitch");
   auto strainCol = sel.Take<ROOT::RVecF>("strain");
   auto labelCol = sel.Take<UChar_t>("label");
   const size_t nSel = strainCol->size();
   std::vector<float> x(nSel * len);
   std::vector<unsigned char> y(nSel);
   for (size_t i = 0; i < nSel; i++) {
      const ROOT::RVecF &s = (*strainCol)[i];
      std::copy(s.begin(), s.end(), x.begin() + i * len);
      y[i] = (*labelCol)[i];
   }
   printf("selected %zu of %d training entries\n", nSel, nTrain);
   sel.Report()->Print();

   FerrogradModel *m = nullptr;
   if (ferrograd_model_new_gw_cnn(len, 2, 1, &m) != FERROGRAD_STATUS_OK)
      return fail("model");
   FerrogradTrainOptions opts = ferrograd_train_options_default();
   opts.epochs = 1;
   opts.batch_size = 32;
   opts.learning_rate = 0.003f;
   opts.seed = 1;
   FerrogradTrainReport rep;
   for (int e = 0; e < epochs; e++) { // one epoch per call: the run (Adam, batch order) continues
      if (ferrograd_model_train_opts(m, x.data(), x.size(), y.data(), nSel, nullptr, &opts, &rep) !=
          FERROGRAD_STATUS_OK) {
         ferrograd_model_free(m);
         return fail("training");
      }
      printf("epoch %d: train loss %.4f (%llu steps)\n", e + 1, rep.final_loss,
             (unsigned long long)rep.run_steps);
   }
   // Bad input is an error string, not a crash: a tree that is not there.
   const char *features[1] = {"strain"};
   FerrogradStatus st = ferrograd_model_train_root(m, "gw_train.root", "nosuchtree", features, 1, "label",
                                                   nullptr, nullptr, &opts, nullptr);
   printf("bad input: status %d: %s\n", (int)st, ferrograd_last_error());

   // 3. Scores of every held-out entry, as a friend tree.
   ROOT::RDataFrame test("gw", "gw_test.root");
   auto testStrain = test.Take<ROOT::RVecF>("strain");
   const size_t nT = testStrain->size();
   std::vector<float> xt(nT * len), probs(2 * nT);
   for (size_t i = 0; i < nT; i++)
      std::copy((*testStrain)[i].begin(), (*testStrain)[i].end(), xt.begin() + i * len);
   if (ferrograd_model_predict(m, xt.data(), xt.size(), nT, probs.data(), probs.size()) != FERROGRAD_STATUS_OK) {
      ferrograd_model_free(m);
      return fail("predict");
   }
   ferrograd_model_free(m);
   {
      TFile f("gw_scores.root", "RECREATE");
      TTree t("scores", "ferrograd W2 CNN: P(signal) per entry of gw_test.root:gw");
      float score = 0;
      t.Branch("score", &score);
      for (size_t i = 0; i < nT; i++) {
         score = probs[2 * i + 1];
         t.Fill();
      }
      t.Write();
   }
   printf("predictions: %zu\n", nT);

   TFile ft("gw_test.root");
   auto *tree = ft.Get<TTree>("gw");
   tree->AddFriend("scores", "gw_scores.root");
   ROOT::RDataFrame withScores(*tree);
   auto scores = withScores.Take<float>("scores.score");
   auto labels = withScores.Take<UChar_t>("label");
   auto hs = withScores.Filter("label == 1").Histo1D({"hs", "ferrograd W2 CNN on gw_test.root;P(signal);segments", 50, 0, 1},
                                                   "scores.score");
   auto hb = withScores.Filter("label == 0").Histo1D({"hb", "ferrograd W2 CNN on gw_test.root;P(signal);segments", 50, 0, 1},
                                                   "scores.score");
   const double auc = gwAuc(*scores, std::vector<unsigned char>(labels->begin(), labels->end()));
   printf("friend entries: %zu\n", scores->size());
   printf("test AUC: %.4f\n", auc);

   TCanvas c("c", "scores", 800, 600);
   c.SetLogy();
   hs->SetLineColor(kRed);
   hb->SetLineColor(kBlue);
   hb->SetMinimum(0.5);
   hb->Draw("hist");
   hs->Draw("hist same");
   TLegend leg(0.35, 0.75, 0.65, 0.88);
   leg.AddEntry(hs.GetPtr(), "noise + chirp", "l");
   leg.AddEntry(hb.GetPtr(), "noise only", "l");
   leg.Draw();
   c.SaveAs("gw_classifier_scores.png");

   const bool ok = auc > 0.9 && scores->size() == size_t(nTest);
   printf("gw_classifier: %s\n", ok ? "OK" : "FAILED");
   return ok ? 0 : 1;
}
