/* probe: the machine's limits, measured without dnnx, for bench/compare.py.
 *
 *   probe fma THREADS             float32 FMA-throughput peak of THREADS threads, GFLOP/s
 *   probe read BYTES THREADS      time of one plain read pass over BYTES (split over THREADS),
 *                                 the floor for a batch-1 predict that streams its weights
 *
 * The FMA peak runs 12 independent FMA chains per thread (more than latency x FMA pipes on
 * current x86 cores) in the widest vectors the CPU has (AVX-512, else AVX2+FMA), all threads
 * at once, and prints the best of several trials. The read pass sums the buffer in vectors;
 * the best of many passes is printed (the bytes stay in cache when they fit, as a served
 * model's weights do). Output: one line "key value" per figure. Build:
 *   cc -O2 -march=native -fopenmp bench/probe.c -o probe
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PROBE_X86 1
#endif

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Returns FLOPs done; iters loops of 12 FMAs on `lanes` floats. */
#ifdef PROBE_X86
__attribute__((target("avx512f"))) static double fma512(long iters, float seed) {
  __m512 s[12];
  for (int i = 0; i < 12; ++i) s[i] = _mm512_set1_ps(seed + (float)i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) s[i] = _mm512_fmadd_ps(s[i], a, b);
  }
  float sink = 0;
  for (int i = 0; i < 12; ++i) sink += _mm512_reduce_add_ps(s[i]);
  return sink == 12345.678f ? 0.0 : 2.0 * 16 * 12 * (double)iters;
}

__attribute__((target("avx2,fma"))) static double fma256(long iters, float seed) {
  __m256 s[12];
  for (int i = 0; i < 12; ++i) s[i] = _mm256_set1_ps(seed + (float)i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) s[i] = _mm256_fmadd_ps(s[i], a, b);
  }
  float sink = 0;
  for (int i = 0; i < 12; ++i) sink += _mm256_cvtss_f32(s[i]);
  return sink == 12345.678f ? 0.0 : 2.0 * 8 * 12 * (double)iters;
}
#endif

static double fma_scalar(long iters, float seed) {
  float s[12];
  for (int i = 0; i < 12; ++i) s[i] = seed + (float)i;
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) s[i] = s[i] * 0.999999f + 1e-6f;
  float sink = 0;
  for (int i = 0; i < 12; ++i) sink += s[i];
  return sink == 12345.678f ? 0.0 : 2.0 * 12 * (double)iters;
}

static const char *isa(void) {
#ifdef PROBE_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
#endif
  return "scalar";
}

static double run_fma(const char *kind, long iters, float seed) {
#ifdef PROBE_X86
  if (!strcmp(kind, "avx512")) return fma512(iters, seed);
  if (!strcmp(kind, "avx2")) return fma256(iters, seed);
#endif
  return fma_scalar(iters, seed);
}

static int probe_fma(int threads) {
  const char *kind = isa();
  const long iters = 20000000L; /* ~0.1 s per trial at a few GHz */
  double best = 0;
  for (int trial = 0; trial < 5; ++trial) {
    double flops = 0, t0 = 0, t1 = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
#pragma omp barrier
#pragma omp master
      t0 = now();
      flops += run_fma(kind, iters, (float)omp_get_thread_num());
#pragma omp barrier
#pragma omp master
      t1 = now();
    }
    double g = flops / (t1 - t0) * 1e-9;
    if (g > best) best = g;
  }
  printf("isa %s\nthreads %d\nfma_gflops %.2f\n", kind, threads, best);
  return 0;
}

static int probe_read(long bytes, int threads) {
  long n = bytes / (long)sizeof(float);
  if (n < 16) n = 16;
  float *buf = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) / 64 * 64);
  if (!buf) return 1;
  for (long i = 0; i < n; ++i) buf[i] = (float)(i & 255) * 1e-3f;
  double best = 1e30;
  float total = 0;
  for (int pass = 0; pass < 400; ++pass) {
    double t0 = now();
    float s = 0;
#pragma omp parallel for simd num_threads(threads) reduction(+ : s) schedule(static)
    for (long i = 0; i < n; ++i) s += buf[i];
    double t = now() - t0;
    total += s;
    if (t < best) best = t;
  }
  printf("threads %d\nbytes %ld\nread_us %.3f\nread_gbs %.2f\nsink %g\n", threads,
         n * (long)sizeof(float), best * 1e6, (double)n * sizeof(float) / best * 1e-9, total);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "fma")) return probe_fma(atoi(argv[2]));
  if (argc >= 4 && !strcmp(argv[1], "read")) return probe_read(atol(argv[2]), atoi(argv[3]));
  fprintf(stderr, "usage: probe fma THREADS | probe read BYTES THREADS\n");
  return 2;
}
