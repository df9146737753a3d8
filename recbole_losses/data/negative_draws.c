/* Uniform negatives for the sampled batch mode, drawn and checked in one pass
 * (recbole_losses/data/compiled_draws.py builds and calls this file; docs/performance.md).
 *
 * Row b of the [B, num] output has its own random stream, so any split of the rows over threads
 * (OpenMP; built with -fopenmp the library shares torch's own OpenMP runtime) gives the same draws: wyrand (a Weyl sequence of step P0 through a 128-bit multiply-fold)
 * started at state s_b = mix(seed + b * G) (SplitMix64's mixer and Weyl constant). Each number
 * becomes an integer in [0, range) by Lemire's multiply-shift with rejection (exactly uniform).
 * An entry takes the first draw from the items 1..n_items-1 that is not a training positive of
 * the row's user (a bit set of the user's training items, built per row); after max_rounds
 * rejected draws it takes an exact draw from the complement: the r-th free item is
 * 1 + r + #{k : q_k <= r}, q_k = free_keys[k] - user * n_items the number of free items below
 * the user's k-th training item (binary search). */
#include <stdint.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
#endif

#define P0 0xa0761d6478bd642fULL
#define P1 0xe7037ed1a0b428dbULL

static inline uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t wyrand(uint64_t *state) {
    *state += P0;
    const __uint128_t t = (__uint128_t)*state * (*state ^ P1);
    return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* The next integer of the stream, uniform in [0, range), range >= 1. */
static inline uint64_t bounded(uint64_t *state, uint64_t range) {
    __uint128_t m = (__uint128_t)wyrand(state) * range;
    if ((uint64_t)m < range) {
        const uint64_t threshold = (0 - range) % range;
        while ((uint64_t)m < threshold) m = (__uint128_t)wyrand(state) * range;
    }
    return (uint64_t)(m >> 64);
}

/* How many entries of the ascending run [first, first + n) are <= value. */
static inline int64_t count_at_most(const int64_t *first, int64_t n, int64_t value) {
    const int64_t *lo = first;
    while (n > 0) {
        const int64_t half = n / 2;
        if (lo[half] <= value) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo - first;
}

/* The [rows, num] negatives of users[0..rows) into out, rows split over OpenMP threads when there are
 * at least min_parallel_entries entries; returns 0, or -1 where the bit sets cannot be allocated. */
int draw_negatives(int64_t *out, const int64_t *users, int64_t rows, int64_t num, const int64_t *indptr,
                   const int64_t *indices, const int64_t *free_keys, int64_t n_items, uint64_t seed,
                   int64_t max_rounds, int64_t min_parallel_entries) {
    const int parallel = rows * num >= min_parallel_entries;
    const int threads = parallel ? omp_get_max_threads() : 1;
    const size_t words = (size_t)(n_items + 63) / 64;
    uint64_t *bit_sets = calloc((size_t)threads * words, sizeof(uint64_t));
    if (bit_sets == NULL) return -1;
#pragma omp parallel for schedule(static) num_threads(threads) if (parallel)
    for (int64_t b = 0; b < rows; b++) {
        uint64_t *is_positive = bit_sets + (size_t)omp_get_thread_num() * words;
        const int64_t user = users[b], first = indptr[user], degree = indptr[user + 1] - first;
        const int64_t *positives = indices + first;
        for (int64_t k = 0; k < degree; k++) is_positive[positives[k] >> 6] |= 1ULL << (positives[k] & 63);
        uint64_t state = mix(seed + (uint64_t)b * 0x9e3779b97f4a7c15ULL);
        int64_t *row = out + b * num;
        for (int64_t j = 0; j < num; j++) {
            int64_t item = -1;
            for (int64_t round = 0; round < max_rounds; round++) {
                const int64_t candidate = 1 + (int64_t)bounded(&state, (uint64_t)(n_items - 1));
                if (!((is_positive[candidate >> 6] >> (candidate & 63)) & 1)) {
                    item = candidate;
                    break;
                }
            }
            if (item < 0) {
                const int64_t r = (int64_t)bounded(&state, (uint64_t)(n_items - 1 - degree));
                item = 1 + r + count_at_most(free_keys + first, degree, user * n_items + r);
            }
            row[j] = item;
        }
        for (int64_t k = 0; k < degree; k++) is_positive[positives[k] >> 6] = 0;
    }
    free(bit_sets);
    return 0;
}
