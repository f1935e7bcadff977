/* A latency histogram for the load generators: log-linear buckets in
   nanoseconds, exact below 128 ns and 128 buckets per power of two above
   (each bucket is at most 1/128 of its value wide: a percentile read from
   it is within 0.8% of the recorded value). Every recorded value counts;
   the exact maximum, sum and count are kept beside the buckets. */
#ifndef IOLOOP_BENCH_HIST_H
#define IOLOOP_BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB + (64 - HIST_SUB_BITS) * HIST_SUB)

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t count, max;
    double sum;
} hist_t;

static void hist_reset(hist_t *h) { memset(h, 0, sizeof *h); }

static int hist_bucket(uint64_t v) {
    if (v < HIST_SUB) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int e = msb - HIST_SUB_BITS;
    return HIST_SUB + e * HIST_SUB + (int)((v >> e) - HIST_SUB);
}

/* The middle of a bucket's range of values. */
static uint64_t hist_value(int i) {
    if (i < HIST_SUB) return (uint64_t)i;
    int e = (i - HIST_SUB) / HIST_SUB;
    uint64_t m = (uint64_t)(HIST_SUB + (i - HIST_SUB) % HIST_SUB);
    return (m << e) + ((((uint64_t)1) << e) >> 1);
}

static void hist_add(hist_t *h, long long ns) {
    uint64_t v = ns > 0 ? (uint64_t)ns : 0;
    h->counts[hist_bucket(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max) h->max = v;
}

/* The value at quantile q (0 < q <= 1): the smallest bucket whose
   cumulative count reaches ceil(q * count), capped by the exact maximum. */
static uint64_t hist_quantile(const hist_t *h, double q) {
    if (!h->count) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count) rank++;
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* {"count", "mean", "p50", "p90", "p99", "p999", "max"} in ns. */
static void hist_json(const hist_t *h, FILE *out) {
    fprintf(out, "{\"count\": %llu, \"mean\": %.0f, \"p50\": %llu, \"p90\": %llu, "
            "\"p99\": %llu, \"p999\": %llu, \"max\": %llu}",
            (unsigned long long)h->count, h->count ? h->sum / (double)h->count : 0.0,
            (unsigned long long)hist_quantile(h, 0.50), (unsigned long long)hist_quantile(h, 0.90),
            (unsigned long long)hist_quantile(h, 0.99), (unsigned long long)hist_quantile(h, 0.999),
            (unsigned long long)h->max);
}

#endif
