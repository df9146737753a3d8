/* The package's C kernels (recbole_losses/native.py builds this file once per process and loads it
 * with ctypes; docs/performance.md). Built with -fopenmp, the loops run on OpenMP threads, which
 * are torch's own where torch ships the same libgomp.so.1; every kernel gives the same result for
 * any number of threads.
 *
 * draw_negatives: uniform negatives for the sampled batch mode, drawn and checked in one pass.
 * Row b of the [B, num] output has its own random stream: wyrand (a Weyl sequence of step P0
 * through a 128-bit multiply-fold) started at state s_b = mix(seed + b * G) (SplitMix64's mixer
 * and Weyl constant G), each 64-bit number used as two 32-bit halves, low half first. Each half
 * becomes an integer in [0, range) by Lemire's multiply-shift with rejection (exactly uniform;
 * n_items < 2^32). An entry takes the first draw from the items 1..n_items-1
 * that is not a training positive of the row's user (a bit set of the user's training items,
 * built per row); after max_rounds rejected draws it takes an exact draw from the complement: the
 * r-th free item is 1 + r + #{k : q_k <= r}, q_k = free_keys[k] - user * n_items the number of
 * free items below the user's k-th training item (binary search).
 *
 * draw_positives: the M sampled positives of each row, uniform with replacement over the user's
 * training items, on the same kind of row stream.
 *
 * group_by_item: a stable counting sort of the [B, K] candidate items, the grouping behind the
 * item gradient of the fused candidate scoring (recbole_losses/scoring.py): the same permutation
 * as a stable sort by (item, row). */
#include <stdint.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
#endif

#define P0 0xa0761d6478bd642fULL
#define P1 0xe7037ed1a0b428dbULL

static inline uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A row's stream: wyrand's 64-bit numbers, served as two 32-bit halves (low half first). */
typedef struct {
    uint64_t state;
    uint32_t spare;
    int has_spare;
} stream_t;

static inline uint32_t next32(stream_t *s) {
    if (s->has_spare) {
        s->has_spare = 0;
        return s->spare;
    }
    s->state += P0;
    const __uint128_t t = (__uint128_t)s->state * (s->state ^ P1);
    const uint64_t x = (uint64_t)(t >> 64) ^ (uint64_t)t;
    s->spare = (uint32_t)(x >> 32);
    s->has_spare = 1;
    return (uint32_t)x;
}

/* Row b's stream: wyrand started at mix(seed + b * G), G SplitMix64's Weyl constant. */
static inline stream_t row_stream(uint64_t seed, int64_t b) {
    const stream_t stream = {mix(seed + (uint64_t)b * 0x9e3779b97f4a7c15ULL), 0, 0};
    return stream;
}

/* The next integer of the stream, uniform in [0, range), 1 <= range < 2^32 (Lemire: the high half
 * of a 32 x 32-bit product, rejecting the low halves below 2^32 mod range). */
static inline uint32_t bounded(stream_t *s, uint32_t range) {
    uint64_t m = (uint64_t)next32(s) * range;
    if ((uint32_t)m < range) {
        const uint32_t threshold = (0u - range) % range;
        while ((uint32_t)m < threshold) m = (uint64_t)next32(s) * range;
    }
    return (uint32_t)(m >> 32);
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
        stream_t stream = row_stream(seed, b);
        int64_t *row = out + b * num;
        for (int64_t j = 0; j < num; j++) {
            int64_t item = -1;
            for (int64_t round = 0; round < max_rounds; round++) {
                const int64_t candidate = 1 + (int64_t)bounded(&stream, (uint32_t)(n_items - 1));
                if (!((is_positive[candidate >> 6] >> (candidate & 63)) & 1)) {
                    item = candidate;
                    break;
                }
            }
            if (item < 0) {
                const int64_t r = (int64_t)bounded(&stream, (uint32_t)(n_items - 1 - degree));
                item = 1 + r + count_at_most(free_keys + first, degree, user * n_items + r);
            }
            row[j] = item;
        }
        for (int64_t k = 0; k < degree; k++) is_positive[positives[k] >> 6] = 0;
    }
    free(bit_sets);
    return 0;
}

/* The [rows, num] positives of users[0..rows): draws with replacement from each user's training
 * items indices[indptr[u]..indptr[u+1]), row b on the stream of draw_negatives (from its own seed).
 * Returns 0, or -2 where a user has no training items (nothing is drawn then). */
int draw_positives(int64_t *out, const int64_t *users, int64_t rows, int64_t num, const int64_t *indptr,
                   const int64_t *indices, uint64_t seed) {
    for (int64_t b = 0; b < rows; b++)
        if (indptr[users[b] + 1] == indptr[users[b]]) return -2;
    for (int64_t b = 0; b < rows; b++) {
        const int64_t first = indptr[users[b]], degree = indptr[users[b] + 1] - first;
        stream_t stream = row_stream(seed, b);
        for (int64_t j = 0; j < num; j++) out[b * num + j] = indices[first + bounded(&stream, (uint32_t)degree)];
    }
    return 0;
}

/* Stable counting sort of items [rows, cols] (values in [0, n_items)) by item: order[p] is the
 * flat index of the p-th candidate and row_of[p] its row, items ascending and flat indices
 * ascending within an item; offsets[i] is where item i's run starts (int32: rows * cols < 2^31).
 * Threads take row blocks, so thread t's candidates of an item follow those of threads < t.
 * Returns 0, or -1 without memory. */
int group_by_item(const int64_t *items, int64_t rows, int64_t cols, int64_t n_items, int32_t *offsets,
                  int32_t *order, int32_t *row_of, int64_t min_parallel_entries) {
    const int parallel = rows * cols >= min_parallel_entries;
    const int threads = parallel ? omp_get_max_threads() : 1;
    int32_t *next = calloc((size_t)threads * (size_t)n_items, sizeof(int32_t));
    if (next == NULL) return -1;
#pragma omp parallel num_threads(threads) if (parallel)
    {
        const int t = omp_get_thread_num(), used = omp_get_num_threads();
        const int64_t first = rows * t / used, last = rows * (t + 1) / used;
        int32_t *count = next + (size_t)t * (size_t)n_items;
        for (int64_t e = first * cols; e < last * cols; e++) count[items[e]]++;
#pragma omp barrier
#pragma omp single
        {
            int32_t start = 0;
            for (int64_t i = 0; i < n_items; i++) {
                offsets[i] = start;
                for (int u = 0; u < used; u++) {
                    const int32_t c = next[(size_t)u * (size_t)n_items + i];
                    next[(size_t)u * (size_t)n_items + i] = start;
                    start += c;
                }
            }
        }
        for (int64_t b = first; b < last; b++) {
            for (int64_t k = 0; k < cols; k++) {
                const int64_t e = b * cols + k;
                const int32_t p = count[items[e]]++;
                order[p] = (int32_t)e;
                row_of[p] = (int32_t)b;
            }
        }
    }
    free(next);
    return 0;
}
