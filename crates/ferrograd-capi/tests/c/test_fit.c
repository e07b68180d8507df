/* Exercises the likelihood C ABI, including bad input. Exit status 0 only if every check
 * passes; prints the fit as one JSON line for tests/c_api.rs to compare with the Rust fit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrograd.h"

static int failures = 0;

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                   \
            fprintf(stderr, "\n");                          \
            failures++;                                     \
        }                                                   \
    } while (0)

/* A call that must fail with `want` and a message containing `needle`. */
static void expect_error(FerrogradStatus got, FerrogradStatus want, const char *needle,
                         const char *what) {
    const char *msg = ferrograd_last_error();
    CHECK(got == want, "%s: status %d, want %d (%s)", what, (int)got, (int)want, msg);
    CHECK(msg != NULL && strstr(msg, needle) != NULL, "%s: message '%s' lacks '%s'", what,
          msg ? msg : "(null)", needle);
    fprintf(stderr, "ok: %s -> %d: %s\n", what, (int)got, msg);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 20000;
    const double truth[4] = {3.0, 0.8, -0.3, 0.3};
    const double start[4] = {2.8, 1.0, -0.2, 0.5};
    CHECK(strlen(ferrograd_version()) > 0, "version");

    /* Bad model arguments. */
    FerrogradFitModel *m = NULL;
    expect_error(ferrograd_fit_model_new(1.0, 1.0, &m), FERROGRAD_STATUS_INVALID_ARGUMENT,
                 "range", "empty range");
    CHECK(m == NULL, "no model on error");
    expect_error(ferrograd_fit_model_new(NAN, 1.0, &m), FERROGRAD_STATUS_INVALID_ARGUMENT,
                 "range", "NaN range");
    expect_error(ferrograd_fit_model_new(0.0, 10.0, NULL), FERROGRAD_STATUS_NULL_POINTER,
                 "out", "NULL out");
    ferrograd_fit_model_free(NULL);

    CHECK(ferrograd_fit_model_new(0.0, 10.0, &m) == FERROGRAD_STATUS_OK, "model_new: %s",
          ferrograd_last_error());
    CHECK(strcmp(ferrograd_last_error(), "") == 0, "last error cleared after success");

    double *x = malloc(n * sizeof *x);
    CHECK(ferrograd_fit_generate(m, truth, 4, 1, x, n) == FERROGRAD_STATUS_OK, "generate: %s",
          ferrograd_last_error());

    /* NLL and gradient against central differences of the NLL. */
    const double p[4] = {3.1, 0.75, -0.28, 0.33};
    double f = 0, g[4] = {0};
    CHECK(ferrograd_fit_nll(m, p, 4, x, n, &f, g, 4) == FERROGRAD_STATUS_OK, "nll: %s",
          ferrograd_last_error());
    double f_only = 0;
    CHECK(ferrograd_fit_nll(m, p, 4, x, n, &f_only, NULL, 0) == FERROGRAD_STATUS_OK, "nll");
    CHECK(f == f_only, "same NLL with and without gradient: %.17g %.17g", f, f_only);
    for (int k = 0; k < 4; k++) {
        double pp[4], pm[4], fp, fm;
        memcpy(pp, p, sizeof pp);
        memcpy(pm, p, sizeof pm);
        double e = 1e-6 * fabs(p[k]);
        pp[k] += e;
        pm[k] -= e;
        ferrograd_fit_nll(m, pp, 4, x, n, &fp, NULL, 0);
        ferrograd_fit_nll(m, pm, 4, x, n, &fm, NULL, 0);
        double fd = (fp - fm) / (2 * e);
        CHECK(fabs(g[k] - fd) <= 1e-5 * fmax(1.0, fabs(fd)), "grad %d: AD %.10g FD %.10g", k,
              g[k], fd);
    }

    /* Bad likelihood input: every one an error, none a crash. */
    const double nan_p[4] = {3.0, NAN, -0.3, 0.3};
    expect_error(ferrograd_fit_nll(m, nan_p, 4, x, n, &f, g, 4),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "sigma", "NaN parameter");
    const double neg_sigma[4] = {3.0, -1.0, -0.3, 0.3};
    expect_error(ferrograd_fit_nll(m, neg_sigma, 4, x, n, &f, g, 4),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "sigma", "negative sigma");
    expect_error(ferrograd_fit_nll(m, p, 3, x, n, &f, g, 4), FERROGRAD_STATUS_INVALID_ARGUMENT,
                 "length 3", "3 parameters");
    expect_error(ferrograd_fit_nll(m, p, 4, x, n, &f, g, 3), FERROGRAD_STATUS_INVALID_ARGUMENT,
                 "grad", "short gradient buffer");
    expect_error(ferrograd_fit_nll(m, p, 4, NULL, n, &f, g, 4), FERROGRAD_STATUS_NULL_POINTER,
                 "events", "NULL events");
    expect_error(ferrograd_fit_nll(m, p, 4, x, 0, &f, g, 4), FERROGRAD_STATUS_INVALID_ARGUMENT,
                 "no events", "zero events");
    expect_error(ferrograd_fit_nll(NULL, p, 4, x, n, &f, g, 4), FERROGRAD_STATUS_NULL_POINTER,
                 "model", "NULL model");
    expect_error(ferrograd_fit_nll(m, p, 4, x, n, NULL, g, 4), FERROGRAD_STATUS_NULL_POINTER,
                 "nll_out", "NULL nll_out");
    double saved = x[7];
    x[7] = NAN;
    expect_error(ferrograd_fit_nll(m, p, 4, x, n, &f, g, 4), FERROGRAD_STATUS_INVALID_ARGUMENT,
                 "event 7", "NaN event");
    x[7] = 11.0;
    FerrogradFitResult r;
    expect_error(ferrograd_fit_run(m, x, n, start, 4, &r), FERROGRAD_STATUS_INVALID_ARGUMENT,
                 "outside the range", "event out of range in a fit");
    x[7] = saved;
    expect_error(ferrograd_fit_run(m, x, n, start, 4, NULL), FERROGRAD_STATUS_NULL_POINTER,
                 "result", "NULL result");
    const double far[4] = {1e6, 1e-3, -0.3, 0.3};
    expect_error(ferrograd_fit_generate(m, far, 4, 0, x, 10), FERROGRAD_STATUS_FAILED,
                 "no mass", "generation impossible");

    /* The fit. */
    memset(&r, 0, sizeof r);
    CHECK(ferrograd_fit_run(m, x, n, start, 4, &r) == FERROGRAD_STATUS_OK, "fit: %s",
          ferrograd_last_error());
    for (int k = 0; k < 4; k++) {
        CHECK(r.errors[k] > 0 && fabs(r.values[k] - truth[k]) < 5 * r.errors[k],
              "param %d: %.6g +- %.6g vs truth %.6g", k, r.values[k], r.errors[k], truth[k]);
        CHECK(fabs(r.covariance[k * 4 + k] - r.errors[k] * r.errors[k]) <
                  1e-12 * r.covariance[k * 4 + k],
              "covariance diagonal %d", k);
    }
    CHECK(r.edm < 1e-8, "edm %g", r.edm);
    /* The exact Hessian at the minimum times the covariance is the identity. */
    double h[16];
    CHECK(ferrograd_fit_hessian(m, r.values, 4, x, n, h, 16) == FERROGRAD_STATUS_OK, "hessian: %s",
          ferrograd_last_error());
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++) s += h[i * 4 + k] * r.covariance[k * 4 + j];
            CHECK(fabs(s - (i == j)) < 1e-9, "(H cov)[%d][%d] = %g", i, j, s);
        }
    expect_error(ferrograd_fit_hessian(m, r.values, 4, x, n, h, 15),
                 FERROGRAD_STATUS_INVALID_ARGUMENT, "hess_out", "short Hessian buffer");
    printf("{\"values\":[%.17g,%.17g,%.17g,%.17g],\"errors\":[%.17g,%.17g,%.17g,%.17g],"
           "\"min_nll\":%.17g,\"seconds_total\":%.6g}\n",
           r.values[0], r.values[1], r.values[2], r.values[3], r.errors[0], r.errors[1],
           r.errors[2], r.errors[3], r.min_nll, r.seconds_total);

    free(x);
    ferrograd_fit_model_free(m);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
