// Train a classifier with ferrograd from an RDataFrame selection, inside ROOT.
//
//   source scripts/root-env.sh
//   root -b -q examples/root/train_classifier.C      # or train_classifier.C+ (ACLiC)
//
// 1. RDataFrame writes a toy sample (signal and background in three features) to events.root.
// 2. A selection (Define, Filter) on it is taken into float buffers; entries with an even
//    number train a ferrograd MLP through the C ABI, odd ones test it.
// 3. The model scores every entry; the scores go back as a friend tree (scores.root, same entry
//    order), read through AddFriend, and a histogram of the score per class is saved as PNG.
// Prints `test accuracy: X`, the mean score per class read through the friend, and
// `train_classifier: OK` when the accuracy is above 0.85.

R__LOAD_LIBRARY(libferrograd_capi)

#include "ferrograd.h"

#include <ROOT/RDataFrame.hxx>
#include <TCanvas.h>
#include <TFile.h>
#include <TH1D.h>
#include <TRandom3.h>
#include <TTree.h>

#include <cstdio>
#include <vector>

int train_classifier(int nEvents = 20000)
{
   // 1. The sample.
   TRandom3 rng(1);
   ROOT::RDataFrame(nEvents)
      .Define("label", [&rng] { return rng.Uniform() < 0.5 ? 1 : 0; })
      .Define("f0", [&rng](int l) { return float(rng.Gaus(l ? 1.0 : -1.0, 1.0)); }, {"label"})
      .Define("f1", [&rng](int l) { return float(rng.Gaus(l ? 0.8 : -0.8, 1.2)); }, {"label"})
      .Define("f2", [&rng](int l) { return float(rng.Gaus(l ? 0.5 : -0.5, 1.0)); }, {"label"})
      .Snapshot("events", "events.root", {"label", "f0", "f1", "f2"});

   // 2. The selection and its buffers.
   ROOT::RDataFrame events("events", "events.root");
   auto all = events.Define("f01", "f0 * f1").Define("entry", [](ULong64_t e) { return e; }, {"rdfentry_"});
   auto sel = all.Filter("abs(f2) < 3", "|f2| < 3");
   auto pack = [](ROOT::RDF::RNode df, std::vector<float> &x, std::vector<unsigned char> &y) {
      auto f0 = df.Take<float>("f0"), f1 = df.Take<float>("f1"), f2 = df.Take<float>("f2"),
           f01 = df.Take<float>("f01");
      auto l = df.Take<int>("label");
      const size_t n = f0->size();
      x.resize(4 * n);
      y.resize(n);
      for (size_t i = 0; i < n; i++) {
         x[4 * i] = (*f0)[i];
         x[4 * i + 1] = (*f1)[i];
         x[4 * i + 2] = (*f2)[i];
         x[4 * i + 3] = (*f01)[i];
         y[i] = (unsigned char)(*l)[i];
      }
      return n;
   };
   std::vector<float> xTrain, xTest, xAll;
   std::vector<unsigned char> yTrain, yTest, yAll;
   const size_t nTrain = pack(sel.Filter("entry % 2 == 0"), xTrain, yTrain);
   const size_t nTest = pack(sel.Filter("entry % 2 == 1"), xTest, yTest);
   const size_t nAll = pack(all, xAll, yAll);
   printf("selected: %zu train, %zu test of %zu\n", nTrain, nTest, nAll);

   // Train and test through the C ABI.
   FerrogradModel *m = nullptr;
   double loss = 0;
   if (ferrograd_model_new_mlp(4, 16, 2, 1, &m) != FERROGRAD_STATUS_OK ||
       ferrograd_model_train(m, xTrain.data(), xTrain.size(), yTrain.data(), nTrain, 5, 64, 0.01f, 1, &loss) !=
          FERROGRAD_STATUS_OK) {
      printf("error: %s\n", ferrograd_last_error());
      ferrograd_model_free(m);
      return 1;
   }
   // A buffer of the wrong size is an error string, not a crash.
   std::vector<float> tooShort(1);
   FerrogradStatus st = ferrograd_model_predict(m, xTest.data(), xTest.size(), nTest, tooShort.data(), 1);
   printf("bad input: status %d: %s\n", (int)st, ferrograd_last_error());

   std::vector<float> pTest(2 * nTest), pAll(2 * nAll);
   ferrograd_model_predict(m, xTest.data(), xTest.size(), nTest, pTest.data(), pTest.size());
   ferrograd_model_predict(m, xAll.data(), xAll.size(), nAll, pAll.data(), pAll.size());
   ferrograd_model_free(m);
   size_t correct = 0;
   for (size_t i = 0; i < nTest; i++)
      correct += (pTest[2 * i + 1] > 0.5f) == (yTest[i] == 1);
   const double accuracy = double(correct) / nTest;
   printf("final training loss: %.4f\ntest accuracy: %.4f\n", loss, accuracy);

   // 3. Scores as a friend tree, in the entry order of `events`.
   {
      TFile f("scores.root", "RECREATE");
      TTree t("scores", "ferrograd MLP scores");
      float score = 0;
      t.Branch("score", &score);
      for (size_t i = 0; i < nAll; i++) {
         score = pAll[2 * i + 1];
         t.Fill();
      }
      t.Write();
   }
   TFile fe("events.root");
   auto *tree = fe.Get<TTree>("events");
   tree->AddFriend("scores", "scores.root");
   ROOT::RDataFrame withScores(*tree);
   auto sig = withScores.Filter("label == 1").Mean<float>("scores.score");
   auto bkg = withScores.Filter("label == 0").Mean<float>("scores.score");
   auto hs = withScores.Filter("label == 1").Histo1D({"hs", "ferrograd MLP;score;events", 50, 0, 1}, "scores.score");
   auto hb = withScores.Filter("label == 0").Histo1D({"hb", "ferrograd MLP;score;events", 50, 0, 1}, "scores.score");
   printf("mean score through the friend tree: signal %.4f, background %.4f\n", *sig, *bkg);
   TCanvas c("c", "scores", 800, 600);
   hs->SetLineColor(kRed);
   hb->SetLineColor(kBlue);
   hb->Draw("hist");
   hs->Draw("hist same");
   c.SaveAs("train_classifier_scores.png");

   const bool ok = accuracy > 0.85 && *sig > 0.7 && *bkg < 0.3;
   printf("train_classifier: %s\n", ok ? "OK" : "FAILED");
   return ok ? 0 : 1;
}
