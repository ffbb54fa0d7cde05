// dnnx public C++ API, base layer (below the GEMM and the network core; dnnx_common):
// the one kernel choice that every kernel family follows. The GEMM runs the
// micro-kernels of the chosen instruction set and the network core its SIMD elementwise
// kernels of the same one, so set_kernel / DNNX_KERNEL force both, and "ref" runs every
// portable loop. Each family maps an Isa to its own kernel table; neither asks the other
// which one is active.
#pragma once
#include <string>
#include <vector>

namespace dnnx {

/// The instruction sets a kernel family is built for, best last. The value is the index
/// of the kernel's name in compiled_kernels() (x86 builds: ref, avx2, avx512; other
/// builds: ref only).
enum class Isa : int { ref = 0, avx2 = 1, avx512 = 2 };

/// The active kernel's instruction set: an atomic load once chosen. Chosen at first use:
/// DNNX_KERNEL if set, else the best one this CPU and OS support. Throws
/// std::runtime_error if DNNX_KERNEL names a kernel that cannot run.
Isa active_isa();

/// Kernels this CPU can run, best last (always starts with "ref").
std::vector<std::string> available_kernels();
/// Every kernel this build contains (whether or not the CPU supports it).
std::vector<std::string> compiled_kernels();
/// The name of the active kernel (gemm() and the network core's SIMD kernels run it).
std::string active_kernel();
/// Force a kernel ("ref", "avx2", "avx512"). Throws std::invalid_argument for an unknown
/// name or one this CPU (or build) cannot run. DNNX_KERNEL sets it at start-up.
void set_kernel(const std::string& name);

}  // namespace dnnx
