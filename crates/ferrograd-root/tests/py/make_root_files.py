"""Writes the ROOT files that ferrograd-root's tests read, with real ROOT (PyROOT).

usage: make_root_files.py OUTDIR ENTRIES [BASKET_BYTES [snapshot-only [AUTOFLUSH]]]

Files (ENTRIES entries each unless said otherwise):
  branches_<alg>.root  TTree::Branch trees, small baskets (many baskets, unaligned clusters),
                       every scalar type, x[4]/F, leaf-count arrays, std::vector<T>; the tree is
                       `events`, plus `bkg/events` (a sub-directory) with ENTRIES/3 entries
  snapshot_<alg>.root  RDataFrame::Snapshot of scalar and RVec columns, tree `events`
for <alg> in none, zlib, lz4, zstd, lzma, and
  unsupported.root     branches outside the subset (leaf list, string, nested vector, object)
                       next to a readable `x/F`
  short.root           a tree that declares 10 more entries than its baskets hold
"""

import os
import sys

import ROOT

ROOT.gROOT.SetBatch(True)

CPP = r"""
#include <TFile.h>
#include <TTree.h>
#include <TDirectory.h>
#include <ROOT/RDataFrame.hxx>
#include <vector>
#include <cmath>
#include <limits>

// Deterministic values with sign changes, extremes and varying lengths.
void fg_fill(TDirectory* dir, const char* name, Long64_t n, int basket) {
    dir->cd();
    auto* t = new TTree(name, "ferrograd test tree");
    Bool_t o; Char_t b; UChar_t ub; Short_t s; UShort_t us; Int_t i; UInt_t ui;
    Long64_t l; ULong64_t ul; Float_t f; Double_t d; Float_t arr[4]; Short_t sarr[3];
    Int_t nj; Float_t jf[8]; Double_t jd[8]; UChar_t nb; Long64_t jl[8];
    std::vector<float> vf; std::vector<double> vd; std::vector<int> vi; std::vector<Long64_t> vl;
    std::vector<unsigned short> vus; std::vector<bool> vo; std::vector<char> vc;
    t->Branch("o", &o, "o/O", basket);
    t->Branch("b", &b, "b/B", basket);
    t->Branch("ub", &ub, "ub/b", basket);
    t->Branch("s", &s, "s/S", basket);
    t->Branch("us", &us, "us/s", basket);
    t->Branch("i", &i, "i/I", basket);
    t->Branch("ui", &ui, "ui/i", basket);
    t->Branch("l", &l, "l/L", basket);
    t->Branch("ul", &ul, "ul/l", basket);
    t->Branch("f", &f, "f/F", basket);
    t->Branch("d", &d, "d/D", basket);
    t->Branch("arr", arr, "arr[4]/F", basket);
    t->Branch("sarr", sarr, "sarr[3]/S", basket);
    t->Branch("nj", &nj, "nj/I", basket);
    t->Branch("jf", jf, "jf[nj]/F", basket);
    t->Branch("jd", jd, "jd[nj]/D", basket);
    t->Branch("nb", &nb, "nb/b", basket);
    t->Branch("jl", jl, "jl[nb]/L", basket);
    t->Branch("vf", &vf, basket);
    t->Branch("vd", &vd, basket);
    t->Branch("vi", &vi, basket);
    t->Branch("vl", &vl, basket);
    t->Branch("vus", &vus, basket);
    t->Branch("vo", &vo, basket);
    t->Branch("vc", &vc, basket);
    for (Long64_t e = 0; e < n; ++e) {
        o = (e % 3) == 0;
        b = (Char_t)((e * 37) % 256 - 128);
        ub = (UChar_t)((e * 11) % 256);
        s = (Short_t)((e * 7919) % 65536 - 32768);
        us = (UShort_t)((e * 104729) % 65536);
        i = (Int_t)((e * 2654435761LL) % 4294967296LL - 2147483648LL);
        ui = (UInt_t)((e * 2246822519ULL) % 4294967296ULL);
        l = (e % 5 == 0) ? std::numeric_limits<Long64_t>::min() + e : (Long64_t)(e * 6364136223846793005ULL);
        ul = (e % 7 == 0) ? std::numeric_limits<ULong64_t>::max() - e : e * 1442695040888963407ULL;
        f = (Float_t)(0.1 * e - 17.25) / 3.0f;
        d = std::sin(0.001 * e) * 1e10 + 1.0 / (e + 1);
        for (int k = 0; k < 4; ++k) arr[k] = (Float_t)(e * 4 + k) * 0.25f - 1.0f;
        for (int k = 0; k < 3; ++k) sarr[k] = (Short_t)(e - k * 1000);
        nj = (Int_t)(e % 9) % 8;
        for (int k = 0; k < nj; ++k) { jf[k] = (Float_t)(e + k) / 7.0f; jd[k] = -(double)(e * k) / 3.0; }
        nb = (UChar_t)(e % 4);
        for (int k = 0; k < nb; ++k) jl[k] = (Long64_t)(e << k) - 5;
        vf.assign(e % 6, 0.0f); for (size_t k = 0; k < vf.size(); ++k) vf[k] = (float)(e * 0.5 + k);
        vd.assign((e + 2) % 5, 0.0); for (size_t k = 0; k < vd.size(); ++k) vd[k] = std::exp(-(double)k) * e;
        vi.assign(e % 4, 0); for (size_t k = 0; k < vi.size(); ++k) vi[k] = (int)(e * 3 - k * 1000000);
        vl.assign(e % 3, 0); for (size_t k = 0; k < vl.size(); ++k) vl[k] = (Long64_t)(e * 1000000007LL) * (k + 1);
        vus.assign(e % 5, 0); for (size_t k = 0; k < vus.size(); ++k) vus[k] = (unsigned short)(e + k * 20000);
        vo.assign(e % 4, false); for (size_t k = 0; k < vo.size(); ++k) vo[k] = ((e + k) % 2) == 1;
        vc.assign(e % 3, 0); for (size_t k = 0; k < vc.size(); ++k) vc[k] = (char)(e - k * 100);
        t->Fill();
    }
    t->Write();
    delete t;
}

void fg_branches(const char* path, Long64_t n, int compress, int basket) {
    TFile file(path, "RECREATE", "", compress);
    fg_fill(&file, "events", n, basket);
    TDirectory* bkg = file.mkdir("bkg");
    fg_fill(bkg, "events", n / 3, basket);
    file.Close();
}

void fg_special(const char* dir, Long64_t n) {
    {
        TFile file(TString(dir) + "/unsupported.root", "RECREATE", "", 101);
        TTree t("events", "branches outside the subset");
        Float_t x, pair[2]; Int_t k; char text[16];
        std::vector<std::vector<float>> nested; TNamed obj("a", "b");
        t.Branch("x", &x, "x/F");
        t.Branch("pair", pair, "a/F:b/F");
        t.Branch("text", text, "text/C");
        t.Branch("nested", &nested);
        t.Branch("obj", &obj);
        for (Long64_t e = 0; e < n; ++e) {
            x = e; pair[0] = e; pair[1] = -e; k = e; snprintf(text, sizeof text, "e%lld", e);
            nested.assign(e % 3, std::vector<float>(2, (float)e));
            t.Fill();
        }
        (void)k;
        t.Write();
    }
    {
        TFile file(TString(dir) + "/short.root", "RECREATE", "", 101);
        TTree t("events", "declares more entries than it holds");
        Float_t x;
        t.Branch("x", &x, "x/F");
        for (Long64_t e = 0; e < n; ++e) { x = e; t.Fill(); }
        t.SetEntries(n + 10);
        t.Write();
    }
}

void fg_snapshot(const char* path, Long64_t n, int alg, int level, Long64_t autoflush) {
    ROOT::RDataFrame df(n);
    ROOT::RDF::RSnapshotOptions opts;
    opts.fCompressionAlgorithm = static_cast<ROOT::RCompressionSetting::EAlgorithm::EValues>(alg);
    opts.fCompressionLevel = level;
    opts.fAutoFlush = autoflush;  // -20000: ~20 kB clusters, several even in small files
    df.Define("x", "float(rdfentry_) * 0.5f - 3.0f")
      .Define("y", "std::cos(double(rdfentry_))")
      .Define("label", "int(rdfentry_ % 2)")
      .Define("w", "1.0f + float(rdfentry_ % 10) / 10.0f")
      .Define("n", "ULong64_t(rdfentry_ * 3)")
      .Define("flag", "rdfentry_ % 4 == 1")
      .Define("v", "ROOT::RVecF(rdfentry_ % 5, float(rdfentry_) / 8.0f)")
      .Snapshot("events", path, {"x", "y", "label", "w", "n", "flag", "v"}, opts);
}
"""

ALGS = {  # name: (ROOT compression setting for TFile, algorithm enum, level)
    "none": (0, 0, 0),
    "zlib": (101, 1, 1),
    "lzma": (207, 2, 7),
    "lz4": (404, 4, 4),
    "zstd": (505, 5, 5),
}


def main():
    outdir, entries = sys.argv[1], int(sys.argv[2])
    basket = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    os.makedirs(outdir, exist_ok=True)
    if not ROOT.gInterpreter.Declare(CPP):
        sys.exit("make_root_files.py: ROOT could not compile the generator")
    snapshot_only = len(sys.argv) > 4 and sys.argv[4] == "snapshot-only"
    # ROOT's default (0) is ~30 MB clusters, what analyses write; the tests want many small ones.
    autoflush = int(sys.argv[5]) if len(sys.argv) > 5 else -20000
    for name, (setting, alg, level) in ALGS.items():
        ROOT.fg_snapshot(os.path.join(outdir, f"snapshot_{name}.root"), entries, alg, level, autoflush)
        if snapshot_only:
            continue
        ROOT.fg_branches(os.path.join(outdir, f"branches_{name}.root"), entries, setting, basket)
    if not snapshot_only:
        ROOT.fg_special(outdir, min(entries, 20))


if __name__ == "__main__":
    main()
