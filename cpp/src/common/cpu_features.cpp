#include "dnnx/cpu.hpp"

#include <cstdint>
#include <cstring>

#if defined(DNNX_HAVE_X86)
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace dnnx {
namespace {

#if defined(DNNX_HAVE_X86)
void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int t[4];
  __cpuidex(t, static_cast<int>(leaf), static_cast<int>(sub));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(t[i]);
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}

std::uint64_t xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(DNNX_HAVE_X86)
  unsigned r[4];
  cpuid(0, 0, r);
  unsigned max_leaf = r[0];
  char vendor[13];
  std::memcpy(vendor, &r[1], 4);
  std::memcpy(vendor + 4, &r[3], 4);
  std::memcpy(vendor + 8, &r[2], 4);
  vendor[12] = 0;
  f.vendor = vendor;
  cpuid(1, 0, r);
  f.sse2 = (r[3] >> 26) & 1;
  bool osxsave = (r[2] >> 27) & 1;
  bool avx_hw = (r[2] >> 28) & 1;
  bool fma_hw = (r[2] >> 12) & 1;
  bool ymm_os = false, zmm_os = false;
  if (osxsave) {
    std::uint64_t x = xgetbv0();
    ymm_os = (x & 0x6) == 0x6;              // XMM and YMM state
    zmm_os = ymm_os && (x & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
  }
  f.avx = avx_hw && ymm_os;
  f.fma = fma_hw && ymm_os;
  if (max_leaf >= 7) {
    cpuid(7, 0, r);
    f.avx2 = ((r[1] >> 5) & 1) && ymm_os;
    f.avx512f = ((r[1] >> 16) & 1) && zmm_os;
    f.avx512dq = ((r[1] >> 17) & 1) && zmm_os;
    f.avx512bw = ((r[1] >> 30) & 1) && zmm_os;
    f.avx512vl = ((r[1] >> 31) & 1) && zmm_os;
  }
  cpuid(0x80000000u, 0, r);
  if (r[0] >= 0x80000004u) {
    char brand[49] = {0};
    for (unsigned i = 0; i < 3; ++i) {
      cpuid(0x80000002u + i, 0, r);
      std::memcpy(brand + 16 * i, r, 16);
    }
    f.brand = brand;
    while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
    while (!f.brand.empty() && f.brand.front() == ' ') f.brand.erase(f.brand.begin());
  }
#endif
  return f;
}

}  // namespace

std::string CpuFeatures::describe() const {
  std::string s;
  auto add = [&](bool b, const char* n) { if (b) { if (!s.empty()) s += ' '; s += n; } };
  add(sse2, "sse2"); add(avx, "avx"); add(avx2, "avx2"); add(fma, "fma");
  add(avx512f, "avx512f"); add(avx512vl, "avx512vl"); add(avx512dq, "avx512dq"); add(avx512bw, "avx512bw");
  return s.empty() ? "none" : s;
}

const CpuFeatures& cpu_features() noexcept {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace dnnx
