/* Exercises training from a ROOT file through the C ABI (ferrograd_model_train_root): an MLP
 * from scalar columns with a weight column and a cut, the GW CNN from a fixed-size strain
 * array, a training resumed from a checkpoint that continues exactly, and bad input of every
 * kind (missing file, tree or branch, wrong type, wrong length, NaN, bad labels or cut) as an
 * error status with a message, never a crash.
 * Usage: test_root FILE.root CHECKPOINT. Prints a JSON line; exit status 0 only if every check
 * passes. The file's tree `events` is written by tests/c_api.rs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrograd.h"

static int failures = 0;

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fprintf(stderr, "\n");                               \
            failures++;                                          \
        }                                                        \
    } while (0)

static void expect_error(FerrogradStatus got, FerrogradStatus want, const char *needle,
                         const char *what) {
    const char *msg = ferrograd_last_error();
    CHECK(got == want, "%s: status %d, want %d (%s)", what, (int)got, (int)want, msg);
    CHECK(strstr(msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, msg, needle);
    fprintf(stderr, "ok: %s -> %d: %s\n", what, (int)got, msg);
}

enum { D = 4, C = 2, PROBE = 8 };

/* Probabilities of a few fixed rows: equal weights give equal outputs. */
static void probe(FerrogradModel *m, float out[PROBE * C]) {
    float x[PROBE * D];
    for (int i = 0; i < PROBE * D; i++) x[i] = (float)((i * 37) % 11) / 4.0f - 1.3f;
    CHECK(ferrograd_model_predict(m, x, PROBE * D, PROBE, out, PROBE * C) == FERROGRAD_STATUS_OK,
          "probe: %s", ferrograd_last_error());
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_root FILE.root CHECKPOINT\n");
        return 2;
    }
    const char *file = argv[1], *ckpt = argv[2];
    const char *xs[D] = {"x0", "x1", "x2", "x3"};

    FerrogradModel *m = NULL;
    CHECK(ferrograd_model_new_mlp(D, 16, C, 1, &m) == FERROGRAD_STATUS_OK, "new: %s",
          ferrograd_last_error());
    FerrogradTrainOptions o = ferrograd_train_options_default();
    o.epochs = 5;
    o.batch_size = 32;
    o.learning_rate = 0.01f;
    o.seed = 7;
    FerrogradTrainReport r;
    memset(&r, 0, sizeof r);

    /* Bad input first: each leaves the fresh model untouched (checked below). */
    float before[PROBE * C], after[PROBE * C];
    probe(m, before);
    const char *nan_xs[D] = {"x0", "x1", "x2", "nanx"};
    const char *missing_xs[D] = {"x0", "x1", "x2", "nosuch"};
    const char *null_xs[D] = {"x0", NULL, "x2", "x3"};
    const char *arr_x[1] = {"arr"};
    expect_error(ferrograd_model_train_root(m, "/nonexistent/dir/f.root", "events", xs, D, "label",
                                            NULL, NULL, &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "/nonexistent/dir/f.root", "missing file");
    expect_error(ferrograd_model_train_root(m, file, "nosuchtree", xs, D, "label", NULL, NULL, &o,
                                            &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "no tree `nosuchtree`", "missing tree");
    expect_error(ferrograd_model_train_root(m, file, "events", missing_xs, D, "label", NULL, NULL,
                                            &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "no branch `nosuch`", "missing branch");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "label", "nosuchw", NULL, &o,
                                            &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "no branch `nosuchw`", "missing weight branch");
    expect_error(ferrograd_model_train_root(m, file, "events", null_xs, D, "label", NULL, NULL, &o,
                                            &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "`features[1]` is NULL", "NULL feature name");
    expect_error(ferrograd_model_train_root(m, NULL, "events", xs, D, "label", NULL, NULL, &o, &r),
                 FERROGRAD_STATUS_NULL_POINTER, "path", "NULL path");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, NULL, NULL, NULL, &o, &r),
                 FERROGRAD_STATUS_NULL_POINTER, "target", "NULL target");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "label", NULL, NULL, NULL,
                                            &r),
                 FERROGRAD_STATUS_NULL_POINTER, "options", "NULL options");
    expect_error(ferrograd_model_train_root(NULL, file, "events", xs, D, "label", NULL, NULL, &o,
                                            &r),
                 FERROGRAD_STATUS_NULL_POINTER, "model", "NULL model");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, 0, "label", NULL, NULL, &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "`features` is empty", "no features");
    expect_error(ferrograd_model_train_root(m, file, "events", arr_x, 1, "label", NULL, NULL, &o,
                                            &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "the features give 3 values per row",
                 "wrong row length");
    expect_error(ferrograd_model_train_root(m, file, "events", nan_xs, D, "label", NULL, NULL, &o,
                                            &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "`nanx` = NaN is not finite", "NaN feature");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "label", "nanx", NULL, &o,
                                            &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "row 7: `nanx` = NaN is not finite", "NaN weight");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "frac", NULL, NULL, &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "not a class label", "fractional target");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "cls3", NULL, NULL, &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "row 2: `cls3` = 2 but the model has 2 classes",
                 "label out of range");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "arr", NULL, NULL, &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "must be scalars", "array as target (type)");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "label", NULL, "pt >> 3", &o,
                                            &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "cut `pt >> 3`", "malformed cut");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "label", NULL, "nosuchc > 1",
                                            &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "no branch `nosuchc`", "cut on a missing branch");
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "label", NULL, "pt > 1000",
                                            &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "no entry passes the cut", "empty selection");
    FerrogradTrainOptions bad = o;
    bad.learning_rate = NAN;
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "label", NULL, NULL, &bad, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "learning rate", "NaN learning rate");
    bad = o;
    bad.batch_size = 1000000;
    expect_error(ferrograd_model_train_root(m, file, "events", xs, D, "label", NULL, NULL, &bad, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "batch size", "batch larger than the data");
    /* The array entry point's new arguments. */
    {
        float x[2 * D] = {0, 1, 2, 3, 4, 5, 6, 7};
        unsigned char y[2] = {0, 1};
        float w[2] = {1.0f, NAN};
        expect_error(ferrograd_model_train_opts(m, x, 2 * D, y, 2, w, &o, &r),
                     FERROGRAD_STATUS_INVALID_ARGUMENT, "`weights[1]` = NaN is not finite",
                     "NaN weight (arrays)");
        bad = o;
        bad.batch_size = 2;
        expect_error(ferrograd_model_train_opts(m, x, 2 * D, y, 2, NULL, NULL, &r),
                     FERROGRAD_STATUS_NULL_POINTER, "options", "NULL options (arrays)");
        expect_error(ferrograd_model_train_opts(m, x, 2 * D - 1, y, 2, NULL, &bad, &r),
                     FERROGRAD_STATUS_INVALID_ARGUMENT, "`x` has 7 values", "short x (arrays)");
    }
    probe(m, after);
    CHECK(memcmp(before, after, sizeof before) == 0, "a failed call changed the model");

    /* The real training: weights, a cut. */
    CHECK(ferrograd_model_train_root(m, file, "events", xs, D, "label", "w", "pt > 20", &o, &r) ==
              FERROGRAD_STATUS_OK,
          "train_root: %s", ferrograd_last_error());
    CHECK(r.steps > 0 && r.run_steps == r.steps, "steps %llu run %llu",
          (unsigned long long)r.steps, (unsigned long long)r.run_steps);
    CHECK(r.final_loss >= 0 && r.final_loss < 0.2, "final loss %g", r.final_loss);
    CHECK(ferrograd_model_save(m, ckpt) == FERROGRAD_STATUS_OK, "save: %s",
          ferrograd_last_error());
    size_t mlp_rows = r.rows;
    double mlp_loss = r.final_loss;

    /* Resume: 2 steps, save, load, 1 step == 3 steps (bitwise). */
    FerrogradTrainOptions s = o;
    FerrogradModel *a = NULL, *b = NULL, *b2 = NULL;
    CHECK(ferrograd_model_new_mlp(D, 16, C, 5, &a) == FERROGRAD_STATUS_OK, "new a");
    CHECK(ferrograd_model_new_mlp(D, 16, C, 5, &b) == FERROGRAD_STATUS_OK, "new b");
    s.max_steps = 3;
    CHECK(ferrograd_model_train_root(a, file, "events", xs, D, "label", NULL, NULL, &s, &r) ==
              FERROGRAD_STATUS_OK,
          "3 steps: %s", ferrograd_last_error());
    s.max_steps = 2;
    CHECK(ferrograd_model_train_root(b, file, "events", xs, D, "label", NULL, NULL, &s, &r) ==
              FERROGRAD_STATUS_OK,
          "2 steps: %s", ferrograd_last_error());
    char resume[4096];
    snprintf(resume, sizeof resume, "%s.resume", ckpt);
    CHECK(ferrograd_model_save(b, resume) == FERROGRAD_STATUS_OK, "save b: %s",
          ferrograd_last_error());
    CHECK(ferrograd_model_load(resume, &b2) == FERROGRAD_STATUS_OK, "load b: %s",
          ferrograd_last_error());
    s.max_steps = 1;
    CHECK(ferrograd_model_train_root(b2, file, "events", xs, D, "label", NULL, NULL, &s, &r) ==
              FERROGRAD_STATUS_OK,
          "1 step: %s", ferrograd_last_error());
    CHECK(r.steps == 1 && r.run_steps == 3, "resumed run: %llu steps, run %llu",
          (unsigned long long)r.steps, (unsigned long long)r.run_steps);
    float pa[PROBE * C], pb[PROBE * C];
    probe(a, pa);
    probe(b2, pb);
    int same = memcmp(pa, pb, sizeof pa) == 0;
    CHECK(same, "2 steps + save/load + 1 step differs from 3 steps");
    ferrograd_model_free(a);
    ferrograd_model_free(b);
    ferrograd_model_free(b2);

    /* The GW CNN from the fixed-size array `strain[256]`. */
    FerrogradModel *cnn = NULL, *wrong = NULL;
    const char *strain[1] = {"strain"};
    CHECK(ferrograd_model_new_gw_cnn(256, C, 2, &cnn) == FERROGRAD_STATUS_OK, "cnn: %s",
          ferrograd_last_error());
    CHECK(ferrograd_model_new_gw_cnn(512, C, 2, &wrong) == FERROGRAD_STATUS_OK, "cnn 512");
    expect_error(ferrograd_model_train_root(wrong, file, "events", strain, 1, "label", NULL, NULL,
                                            &o, &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "`strain` 256); the model takes 512",
                 "strain length vs the CNN's input");
    expect_error(ferrograd_model_train_root(cnn, file, "events", strain, 1, "label", "w", NULL, &o,
                                            &r),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "MLP only", "weights with the CNN");
    FerrogradTrainOptions co = o;
    co.epochs = 1;
    co.batch_size = 16;
    co.learning_rate = 0.003f;
    CHECK(ferrograd_model_train_root(cnn, file, "events", strain, 1, "label", NULL, "pt > 50", &co,
                                     &r) == FERROGRAD_STATUS_OK,
          "cnn train_root: %s", ferrograd_last_error());
    CHECK(isfinite(r.final_loss) && r.steps == (r.rows + 15) / 16, "cnn: %zu rows %llu steps %g",
          r.rows, (unsigned long long)r.steps, r.final_loss);
    size_t cnn_rows = r.rows;

    /* Simulated strain from the C ABI, trained on by the CNN straight from the file. */
    char gw[4096];
    snprintf(gw, sizeof gw, "%s.gw.root", ckpt);
    FerrogradGwDataset info;
    memset(&info, 0, sizeof info);
    expect_error(ferrograd_gw_write_dataset(NULL, "gw", 40, 256, 1, 10, 20, &info),
                 FERROGRAD_STATUS_NULL_POINTER, "path", "gw: NULL path");
    expect_error(ferrograd_gw_write_dataset(gw, "gw", 1, 256, 1, 10, 20, &info),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "entries", "gw: one entry");
    expect_error(ferrograd_gw_write_dataset(gw, "gw", 40, 256, 1, 20, 10, &info),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "snr", "gw: inverted SNR range");
    expect_error(ferrograd_gw_write_dataset(gw, "gw", 40, 256, 1, NAN, 10, &info),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "snr", "gw: NaN SNR");
    expect_error(ferrograd_gw_write_dataset(gw, "gw", 40, 10, 1, 10, 20, &info),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "n_samples", "gw: too few samples");
    expect_error(ferrograd_gw_write_dataset("/nonexistent/dir/gw.root", "gw", 40, 256, 1, 10, 20,
                                            &info),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "/nonexistent/dir/gw.root", "gw: unwritable path");
    CHECK(ferrograd_gw_write_dataset(gw, "gw", 40, 256, 1, 10, 20, &info) == FERROGRAD_STATUS_OK,
          "gw: %s", ferrograd_last_error());
    CHECK(info.entries == 40 && info.signals == 20 && info.n_samples == 256,
          "gw info: %llu entries, %llu signals, %zu samples", (unsigned long long)info.entries,
          (unsigned long long)info.signals, info.n_samples);
    co.epochs = 2;
    co.batch_size = 8;
    CHECK(ferrograd_model_train_root(cnn, gw, "gw", strain, 1, "label", NULL, "label == 0 || snr > 12",
                                     &co, &r) == FERROGRAD_STATUS_OK,
          "cnn on gw: %s", ferrograd_last_error());
    CHECK(r.rows > 20 && r.rows < 40 && isfinite(r.final_loss), "cnn on gw: %zu rows, loss %g",
          r.rows, r.final_loss);
    size_t gw_rows = r.rows;
    ferrograd_model_free(cnn);
    ferrograd_model_free(wrong);
    ferrograd_model_free(m);

    printf("{\"mlp_rows\": %zu, \"mlp_final_loss\": %.6f, \"cnn_rows\": %zu, \"gw_rows\": %zu, "
           "\"gw_file\": \"%s\", \"resume_equal\": %s}\n",
           mlp_rows, mlp_loss, cnn_rows, gw_rows, gw, same ? "true" : "false");
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
