/* Exercises the model C ABI: an MLP learns a separable two-class problem from arrays, predicts
 * into a caller buffer, survives save/load, and every bad input is an error status with a
 * message (never a crash). Exit status 0 only if every check passes. */
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

/* Two Gaussian blobs in 4 dimensions, class = which blob; deterministic LCG. */
static unsigned long long lcg = 12345;
static double uniform(void) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}
static double gauss(void) {
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

int main(int argc, char **argv) {
    const char *ckpt = argc > 1 ? argv[1] : "model.safetensors";
    enum { N = 2000, D = 4, C = 2 };
    float *x = malloc(sizeof(float) * N * D);
    unsigned char *y = malloc(N);
    for (int i = 0; i < N; i++) {
        y[i] = (unsigned char)(i % 2);
        for (int d = 0; d < D; d++) x[i * D + d] = (float)(gauss() + (y[i] ? 1.5 : -1.5));
    }

    FerrogradModel *m = NULL;
    expect_error(ferrograd_model_new_mlp(0, 8, 2, 0, &m), FERROGRAD_STATUS_INVALID_ARGUMENT, "",
                 "zero input features");
    expect_error(ferrograd_model_new_mlp(D, 8, 2, 0, NULL), FERROGRAD_STATUS_NULL_POINTER, "out",
                 "NULL out");
    CHECK(ferrograd_model_new_mlp(D, 16, C, 1, &m) == FERROGRAD_STATUS_OK, "new: %s",
          ferrograd_last_error());
    size_t in_len = 0, classes = 0;
    CHECK(ferrograd_model_shape(m, &in_len, &classes) == FERROGRAD_STATUS_OK && in_len == D &&
              classes == C,
          "shape %zu %zu", in_len, classes);

    double loss = -1;
    CHECK(ferrograd_model_train(m, x, N * D, y, N, 5, 32, 0.01f, 7, &loss) == FERROGRAD_STATUS_OK,
          "train: %s", ferrograd_last_error());
    CHECK(loss >= 0 && loss < 0.2, "final loss %g", loss);

    float *p = malloc(sizeof(float) * N * C);
    CHECK(ferrograd_model_predict(m, x, N * D, N, p, N * C) == FERROGRAD_STATUS_OK, "predict: %s",
          ferrograd_last_error());
    int correct = 0;
    for (int i = 0; i < N; i++) {
        CHECK(fabsf(p[i * C] + p[i * C + 1] - 1.0f) < 1e-5f, "row %d sums to 1", i);
        correct += (p[i * C + 1] > p[i * C]) == (y[i] == 1);
    }
    double acc = (double)correct / N;
    CHECK(acc > 0.95, "accuracy %g", acc);

    /* Save, load, identical predictions. */
    CHECK(ferrograd_model_save(m, ckpt) == FERROGRAD_STATUS_OK, "save: %s", ferrograd_last_error());
    FerrogradModel *m2 = NULL;
    CHECK(ferrograd_model_load(ckpt, &m2) == FERROGRAD_STATUS_OK, "load: %s",
          ferrograd_last_error());
    float *p2 = malloc(sizeof(float) * N * C);
    CHECK(ferrograd_model_predict(m2, x, N * D, N, p2, N * C) == FERROGRAD_STATUS_OK, "predict 2");
    CHECK(memcmp(p, p2, sizeof(float) * N * C) == 0, "loaded model predicts the same");

    /* Bad input. */
    expect_error(ferrograd_model_predict(m, x, N * D - 1, N, p, N * C),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "expected rows", "wrong x length");
    expect_error(ferrograd_model_predict(m, x, N * D, N, p, N * C - 1),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "probs_out", "short output buffer");
    float saved = x[5];
    x[5] = NAN;
    expect_error(ferrograd_model_predict(m, x, N * D, N, p, N * C),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "x[5]", "NaN input");
    expect_error(ferrograd_model_train(m, x, N * D, y, N, 1, 32, 0.01f, 0, NULL),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "x[5]", "NaN training input");
    x[5] = saved;
    y[3] = 7;
    expect_error(ferrograd_model_train(m, x, N * D, y, N, 1, 32, 0.01f, 0, NULL),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "labels[3]", "label out of range");
    y[3] = 1;
    expect_error(ferrograd_model_train(m, x, N * D, y, N, 1, 32, NAN, 0, NULL),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "learning rate", "NaN learning rate");
    expect_error(ferrograd_model_train(m, x, N * D, y, N, 1, 0, 0.01f, 0, NULL),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "batch size 0", "zero batch size");
    expect_error(ferrograd_model_train(m, x, N * D, y, N, 1, N + 1, 0.01f, 0, NULL),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "batch size", "batch larger than the data");
    expect_error(ferrograd_model_train(m, x, N * D, y, N, 0, 32, 0.01f, 0, NULL),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "epochs", "zero epochs");
    expect_error(ferrograd_model_predict(NULL, x, N * D, N, p, N * C),
                 FERROGRAD_STATUS_NULL_POINTER, "model", "NULL model");
    FerrogradModel *m3 = NULL;
    expect_error(ferrograd_model_load("/nonexistent/model.safetensors", &m3),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "nonexistent", "missing checkpoint");
    expect_error(ferrograd_model_save(m, NULL), FERROGRAD_STATUS_NULL_POINTER, "path",
                 "NULL path");
    CHECK(m3 == NULL, "no model from a failed load");
    /* A model of another shape: predicting with the wrong row length is an error. */
    FerrogradModel *wide = NULL;
    CHECK(ferrograd_model_new_mlp(D + 3, 8, C, 0, &wide) == FERROGRAD_STATUS_OK, "wide");
    expect_error(ferrograd_model_predict(wide, x, N * D, N, p, N * C),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "expected rows", "model of the wrong shape");

    /* The GW CNN from its spec: shape and probabilities on a few zero segments. */
    FerrogradModel *cnn = NULL;
    CHECK(ferrograd_model_new_gw_cnn(2048, 2, 0, &cnn) == FERROGRAD_STATUS_OK, "cnn: %s",
          ferrograd_last_error());
    CHECK(ferrograd_model_shape(cnn, &in_len, &classes) == FERROGRAD_STATUS_OK && in_len == 2048 &&
              classes == 2,
          "cnn shape %zu %zu", in_len, classes);
    float *seg = calloc(3 * 2048, sizeof(float));
    float pc[6];
    CHECK(ferrograd_model_predict(cnn, seg, 3 * 2048, 3, pc, 6) == FERROGRAD_STATUS_OK,
          "cnn predict: %s", ferrograd_last_error());
    for (int i = 0; i < 3; i++) CHECK(fabsf(pc[2 * i] + pc[2 * i + 1] - 1.0f) < 1e-5f, "cnn row");
    FerrogradModel *tiny = NULL;
    expect_error(ferrograd_model_new_gw_cnn(10, 2, 0, &tiny), FERROGRAD_STATUS_INVALID_ARGUMENT,
                 "too short", "CNN input too short");
    CHECK(tiny == NULL, "no model on error");
    free(seg);
    ferrograd_model_free(cnn);
    ferrograd_model_free(wide);
    ferrograd_model_free(m2);
    ferrograd_model_free(m);
    ferrograd_model_free(NULL);
    free(x);
    free(y);
    free(p);
    free(p2);
    printf("{\"final_loss\":%.9g,\"accuracy\":%.6f}\n", loss, acc);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
