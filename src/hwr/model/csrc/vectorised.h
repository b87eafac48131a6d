// Shared by hwr's CPU kernels: the accumulation type and a loop over a row a vector at a time.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <type_traits>

namespace hwr {

// bf16 and float are computed in float, double in double.
template <typename scalar_t>
using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;

}  // namespace hwr

// FOR_LANES(n) { ... } runs its body for j = 0, V::size(), ... < n with k lanes (the last vector may be
// partial); L(p) loads p[j .. j+k), S(v, p) stores v there. V must name the Vectorized type in scope.
#define FOR_LANES(n)                                                        \
  for (int64_t j = 0, k = std::min<int64_t>(V::size(), (n)); j < (n); \
       j += V::size(), k = std::min<int64_t>(V::size(), (n) - j))
#define L(p) V::loadu((p) + j, k)
#define S(v, p) (v).store((p) + j, k)
