// The time loops of hwr.recurrent's GRU and LSTM layers, forward and backward, for the CPU.
//
// Why C++: in Python each time step is a matrix product plus a dozen elementwise operations, and
// each of those reads and writes its (directions, batch, hidden) tensors once and rounds its result
// to bf16. Here each step is the matrix product (ATen's, so oneDNN's) plus one fused pass over the
// gates, computed in float (double for double tensors) with ATen's vectorised exp/tanh.
//
// Layouts (D directions, T steps, B batch, H hidden, G = 3H for the GRU, 4H for the LSTM), all
// contiguous. Loop step s is time s for the forward direction and time T-1-s for the reverse one.
// In time order, as the layers' inputs and outputs are laid out (no copies to reverse a direction):
//   gi     (T, B, D * G)  input projections, without the bias (the biases are added in the gate passes)
//   out    (T, B, D * H)  the layer's output; grad_h, its gradient
//   dgi, dgh / dgates (T, B, D * G)  gradients of the projections
// In loop order, the state the next step's product reads:
//   states (T+1, D, B, H) h_0 = 0, then h_1 .. h_T
// Weights, stacked over directions:
//   w_hh_t (D, H, G)     recurrent weights, transposed; w_hh (D, G, H) untransposed
// Gate orders are torch's: GRU r, z, n; LSTM i, f, g, o.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

#include "vectorised.h"

namespace {

using at::vec::Vectorized;

using hwr::acc_t;

// One row of H values at a time: widened to acc_t into per-thread scratch, computed, narrowed back.
template <typename scalar_t>
inline void widen(const scalar_t* src, acc_t<scalar_t>* dst, int64_t n) {
  at::vec::convert(src, dst, n);
}
template <typename scalar_t>
inline void narrow(const acc_t<scalar_t>* src, scalar_t* dst, int64_t n) {
  at::vec::convert(src, dst, n);
}

// The activations through ATen's fast exp (exp_u20: a degree-5 polynomial, ~20 ulp in float): the
// results are rounded to bf16 (8 significant bits) or used in float, and Sleef's exact exp/tanh made
// the gate arithmetic as slow as torch's separate passes. In double, exp_u20 is the exact exp.
// The rows of a time-ordered (T, B, D * X) tensor at loop step s: row (d, b), d * B + b, is at time s
// (d = 0) or T-1-s (d = 1), columns d * X .. (d + 1) * X.
struct TimeRows {
  int64_t first, dir_stride, row_stride, rows_per_dir;
  TimeRows(int64_t s, int64_t T, int64_t B, int64_t D, int64_t X)
      : first(s * B * D * X), dir_stride((T - 1 - 2 * s) * B * D * X + X), row_stride(D * X), rows_per_dir(B) {}
  template <typename P>
  P* at(P* base, int64_t row) const {
    return base + first + (row / rows_per_dir) * dir_stride + (row % rows_per_dir) * row_stride;
  }
};

template <typename A>
inline Vectorized<A> sigmoid(const Vectorized<A>& x) {
  const Vectorized<A> one(A(1));
  return one / (one + x.neg().exp_u20());
}
template <typename A>
inline Vectorized<A> tanh(const Vectorized<A>& x) {  // 2 sigmoid(2x) - 1
  const Vectorized<A> one(A(1)), two(A(2)), minus_two(A(-2));
  return two / (one + (x * minus_two).exp_u20()) - one;
}

// Runs body(row, scratch) for every (direction, batch) row, rows split across threads; scratch holds
// `buffers` rows of H acc_t values for this thread.
template <typename A, typename F>
void for_rows(int64_t rows, int64_t h, int buffers, const F& body) {
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<A> scratch(static_cast<size_t>(buffers * h));
    for (int64_t row = begin; row < end; ++row) body(row, scratch.data());
  });
}

// Step s of a contiguous tensor whose first dimension is the time step, without indexing the tensor
// (an ATen operation per call, in a loop that runs T times per layer).
template <typename T>
inline T* at_step(const at::Tensor& t, int64_t s) {
  return t.data_ptr<T>() + s * t.stride(0);
}

void check(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.device().is_cpu() && t.is_contiguous(), "hwr recurrent: ", what, " must be a contiguous CPU tensor");
}
template <typename... Tensors>
void check_all(const char* what, const Tensors&... tensors) {
  (check(tensors, what), ...);
}

// ---------------------------------------------------------------------------------------------------
// GRU.  r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r * gh_n), h' = n + z * (h - n)
// with gi = x @ w_ih^T + b_ih and gh = h @ w_hh^T + b_hh. As in the LSTM, the products run without
// their biases, which are added here in acc_t: bias (D, 4H) = [b_ir + b_hr, b_iz + b_hz, b_hn, b_in].
// Each step's product goes to one reused (D, B, G) buffer; of it, backward needs only gh_n (with b_hn).
// Saved for backward: ghn (T, D, B, H), rz (T, D, B, 2H), n (T, D, B, H).

template <typename scalar_t>
void gru_step_forward(const scalar_t* gi, const TimeRows& gi_rows, const acc_t<scalar_t>* bias, const scalar_t* gh,
                      scalar_t* ghn, scalar_t* rz, scalar_t* n, const scalar_t* h_prev, scalar_t* h_next,
                      scalar_t* layer_out, const TimeRows& out_rows, int64_t rows, int64_t h) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  const int64_t G = 3 * h;
  for_rows<A>(rows, h, 8, [&](int64_t row, A* s) {
    const scalar_t* gi_row = gi_rows.at(gi, row);
    const A* b = bias + (row / gi_rows.rows_per_dir) * 4 * h;
    A *xr = s, *xz = s + h, *xn = s + 2 * h, *hr = s + 3 * h, *hz = s + 4 * h, *hn = s + 5 * h, *hp = s + 6 * h,
      *out = s + 7 * h;
    widen(gi_row, xr, G);  // xr, xz, xn are consecutive
    widen(gh + row * G, hr, G);
    widen(h_prev + row * h, hp, h);
    FOR_LANES(h) {
      V r = sigmoid(L(xr) + L(hr) + L(b));
      V z = sigmoid(L(xz) + L(hz) + L(b + h));
      V ghn_ = L(hn) + L(b + 2 * h);
      V c = tanh(L(xn) + L(b + 3 * h) + r * ghn_);
      S(r, xr), S(z, xz), S(c, xn), S(ghn_, hn);
      S(c + z * (L(hp) - c), out);
    }
    narrow<scalar_t>(xr, rz + row * 2 * h, 2 * h);
    narrow<scalar_t>(xn, n + row * h, h);
    narrow<scalar_t>(hn, ghn + row * h, h);
    narrow<scalar_t>(out, h_next + row * h, h);
    narrow<scalar_t>(out, out_rows.at(layer_out, row), h);
  });
}

void gru_forward(const at::Tensor& gi, const at::Tensor& w_hh_t, const at::Tensor& bias, at::Tensor& states,
                 at::Tensor& ghn, at::Tensor& rz, at::Tensor& n, at::Tensor& out) {
  check_all("a GRU buffer", gi, w_hh_t, bias, states, ghn, rz, n, out);
  const int64_t T = n.size(0), D = n.size(1), B = n.size(2), H = n.size(3);
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, gi.scalar_type(), "gru_forward", [&] {
    using A = acc_t<scalar_t>;
    TORCH_CHECK(bias.scalar_type() == c10::CppTypeToScalarType<A>::value, "hwr recurrent: the GRU bias must be ",
                c10::CppTypeToScalarType<A>::value);
    at::Tensor gh = at::empty({D, B, 3 * H}, gi.options());  // this step's h @ w_hh^T
    for (int64_t s = 0; s < T; ++s) {
      if (s == 0) gh.zero_();  // h_0 = 0
      else at::bmm_out(gh, states[s], w_hh_t);
      gru_step_forward<scalar_t>(gi.data_ptr<scalar_t>(), TimeRows(s, T, B, D, 3 * H), bias.data_ptr<A>(),
                                 gh.data_ptr<scalar_t>(), at_step<scalar_t>(ghn, s), at_step<scalar_t>(rz, s),
                                 at_step<scalar_t>(n, s), at_step<scalar_t>(states, s),
                                 at_step<scalar_t>(states, s + 1), out.data_ptr<scalar_t>(), TimeRows(s, T, B, D, H),
                                 D * B, H);
    }
  });
}

// Backward of one step: dh = grad_h + carry + m (m = dgh_{s+1} @ w_hh), then the gates' gradients
// dgi = [dr, dz, dn] (pre-activation) and dgh = [dr, dz, dn * r]; carry <- dh * z. dgh is written
// twice: into dgh (T, B, D * G) for the weight gradients after the loop, and into dgh_step (D, B, G),
// contiguous, for the next step's product.
template <typename scalar_t>
void gru_step_backward(const scalar_t* grad_h, const TimeRows& h_rows, const scalar_t* m, acc_t<scalar_t>* carry,
                       const scalar_t* ghn, const scalar_t* rz, const scalar_t* n, const scalar_t* h_prev,
                       scalar_t* dgi, scalar_t* dgh, const TimeRows& g_rows, scalar_t* dgh_step, int64_t rows,
                       int64_t h) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  for_rows<A>(rows, h, 9, [&](int64_t row, A* s) {
    A *dh = s, *mm = s + h, *r = s + 2 * h, *z = s + 3 * h, *c = s + 4 * h, *gn = s + 5 * h, *hp = s + 6 * h;
    A* out = s + 7 * h;  // dr, dz (2H)
    A* dn = s + 6 * h;   // shares hp's memory
    widen(h_rows.at(grad_h, row), dh, h);
    widen(m + row * h, mm, h);
    widen(rz + row * 2 * h, r, 2 * h);  // r, z consecutive
    widen(n + row * h, c, h);
    widen(ghn + row * h, gn, h);
    widen(h_prev + row * h, hp, h);
    A* carry_row = carry + row * h;
    const V one(A(1));
    FOR_LANES(h) {
      V g = L(dh) + L(mm) + L(carry_row);
      V zz = L(z), rr = L(r), cc = L(c);
      V dz = g * (L(hp) - cc) * zz * (one - zz);  // hp is read before dn (same memory) is written
      V dnn = g * (one - zz) * (one - cc * cc);
      V dr = dnn * L(gn) * rr * (one - rr);
      S(g * zz, carry_row);
      S(dr, out), S(dz, out + h), S(dnn, dn), S(dnn * rr, mm);
    }
    scalar_t* dgi_row = g_rows.at(dgi, row);
    scalar_t* dgh_row = g_rows.at(dgh, row);
    narrow<scalar_t>(out, dgi_row, 2 * h);
    narrow<scalar_t>(dn, dgi_row + 2 * h, h);
    narrow<scalar_t>(out, dgh_row, 2 * h);
    narrow<scalar_t>(mm, dgh_row + 2 * h, h);
    narrow<scalar_t>(out, dgh_step + row * 3 * h, 2 * h);
    narrow<scalar_t>(mm, dgh_step + row * 3 * h + 2 * h, h);
  });
}

// Adds, for each direction d, the column sums of a (B, cols) block of rows (`row_stride` apart, the
// directions `dir_stride` apart) to dbias[d] (`dbias_stride` apart), in acc_t: a bias gradient, one step
// at a time while the step's gradients are in cache. Each column is summed by one thread in a fixed
// order, so the result does not depend on the thread count.
template <typename scalar_t>
void add_column_sums(const scalar_t* rows, int64_t dir_stride, int64_t row_stride, acc_t<scalar_t>* dbias,
                     int64_t dbias_stride, int64_t D, int64_t B, int64_t cols) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  constexpr int64_t kBlock = 256;  // columns per task
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
  at::parallel_for(0, D * blocks, 1, [&](int64_t begin, int64_t end) {
    A row[kBlock];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t d = task / blocks, first = (task % blocks) * kBlock, n = std::min(kBlock, cols - first);
      A* sums = dbias + d * dbias_stride + first;
      for (int64_t b = 0; b < B; ++b) {
        widen(rows + d * dir_stride + b * row_stride + first, row, n);
        FOR_LANES(n) { S(L(sums) + L(row), sums); }
      }
    }
  });
}

// grad_h (T, B, D * H); fills dgi, dgh (T, B, D * G) and dbias (D, 4H, acc_t, zeroed here; the forward's
// bias layout: its r and z parts are both biases' gradient).
void gru_backward(const at::Tensor& grad_h, const at::Tensor& w_hh, const at::Tensor& ghn, const at::Tensor& rz,
                  const at::Tensor& n, const at::Tensor& states, at::Tensor& dgi, at::Tensor& dgh, at::Tensor& dbias) {
  check_all("a GRU buffer", grad_h, w_hh, ghn, rz, n, states, dgi, dgh, dbias);
  const int64_t T = n.size(0), D = n.size(1), B = n.size(2), H = n.size(3), G = 3 * H;
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, n.scalar_type(), "gru_backward", [&] {
    using A = acc_t<scalar_t>;
    TORCH_CHECK(dbias.scalar_type() == c10::CppTypeToScalarType<A>::value, "hwr recurrent: the GRU bias "
                "gradient must be ", c10::CppTypeToScalarType<A>::value);
    dbias.zero_();
    at::Tensor carry = at::zeros({D, B, H}, n.options().dtype(c10::CppTypeToScalarType<A>::value));
    at::Tensor m = at::zeros({D, B, H}, n.options());
    at::Tensor step = at::empty({D, B, G}, n.options());  // dgh[:, s] again, contiguous: a faster product
    for (int64_t s = T - 1; s >= 0; --s) {
      const TimeRows g_rows(s, T, B, D, G);
      gru_step_backward<scalar_t>(grad_h.data_ptr<scalar_t>(), TimeRows(s, T, B, D, H), m.data_ptr<scalar_t>(),
                                  carry.data_ptr<A>(), at_step<scalar_t>(ghn, s), at_step<scalar_t>(rz, s),
                                  at_step<scalar_t>(n, s), at_step<scalar_t>(states, s), dgi.data_ptr<scalar_t>(),
                                  dgh.data_ptr<scalar_t>(), g_rows, step.data_ptr<scalar_t>(), D * B, H);
      // [dr, dz, dn * r] -> bias[0:3H]; dn (the input bias's n part) -> bias[3H:4H]
      add_column_sums<scalar_t>(step.data_ptr<scalar_t>(), B * G, G, dbias.data_ptr<A>(), 4 * H, D, B, G);
      add_column_sums<scalar_t>(dgi.data_ptr<scalar_t>() + g_rows.first + 2 * H, g_rows.dir_stride, g_rows.row_stride,
                                dbias.data_ptr<A>() + 3 * H, 4 * H, D, B, H);
      if (s > 0) at::bmm_out(m, step, w_hh);
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// LSTM.  [i, f, g, o] = [s, s, tanh, s](gi + h @ w_hh^T + bias), c' = f c + i g, h' = o tanh(c'), with
// gi = x @ w_ih^T and bias = b_ih + b_hh (D, G) in acc_t, added here: the products then run without a
// bias operand, which makes the per-step product ~9 % faster.
// Saved for backward: the activated gates (T, D, B, 4H) and the cell states (T+1, D, B, H) in acc_t.

template <typename scalar_t>
void lstm_step_forward(const scalar_t* gi, const TimeRows& gi_rows, const acc_t<scalar_t>* bias, scalar_t* gates,
                       const acc_t<scalar_t>* c_prev, acc_t<scalar_t>* c_next, scalar_t* h_next, scalar_t* layer_out,
                       const TimeRows& out_rows, int64_t rows, int64_t h) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  const int64_t G = 4 * h;
  for_rows<A>(rows, h, 9, [&](int64_t row, A* s) {
    const scalar_t* gi_row = gi_rows.at(gi, row);
    const A* b = bias + (row / gi_rows.rows_per_dir) * G;
    scalar_t* gate_row = gates + row * G;  // holds h @ w_hh^T on entry, the activated gates on exit
    A *x = s, *y = s + G, *out = s + 2 * G;
    widen(gi_row, x, G);
    widen(gate_row, y, G);
    const A* cp = c_prev + row * h;
    A* cn = c_next + row * h;
    FOR_LANES(h) {
      V i = sigmoid(L(x) + L(y) + L(b));
      V f = sigmoid(L(x + h) + L(y + h) + L(b + h));
      V g = tanh(L(x + 2 * h) + L(y + 2 * h) + L(b + 2 * h));
      V o = sigmoid(L(x + 3 * h) + L(y + 3 * h) + L(b + 3 * h));
      V c = f * L(cp) + i * g;
      S(c, cn);
      S(o * tanh(c), out);
      S(i, x), S(f, x + h), S(g, x + 2 * h), S(o, x + 3 * h);
    }
    narrow<scalar_t>(x, gate_row, G);
    narrow<scalar_t>(out, h_next + row * h, h);
    narrow<scalar_t>(out, out_rows.at(layer_out, row), h);
  });
}

// cells (T+1, D, B, H) in acc_t, cells[0] = 0; gates (T, D, B, 4H) and out (T, B, D * H) are filled.
void lstm_forward(const at::Tensor& gi, const at::Tensor& w_hh_t, const at::Tensor& bias, at::Tensor& states,
                  at::Tensor& cells, at::Tensor& gates, at::Tensor& out) {
  check_all("an LSTM buffer", gi, w_hh_t, bias, states, cells, gates, out);
  const int64_t T = gates.size(0), D = gates.size(1), B = gates.size(2), H = states.size(3);
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, gi.scalar_type(), "lstm_forward", [&] {
    using A = acc_t<scalar_t>;
    TORCH_CHECK(bias.scalar_type() == c10::CppTypeToScalarType<A>::value, "hwr recurrent: the LSTM bias must be ",
                c10::CppTypeToScalarType<A>::value);
    for (int64_t s = 0; s < T; ++s) {
      at::Tensor gates_s = gates[s];
      if (s == 0) gates_s.zero_();  // h_0 = 0
      else at::bmm_out(gates_s, states[s], w_hh_t);
      lstm_step_forward<scalar_t>(gi.data_ptr<scalar_t>(), TimeRows(s, T, B, D, 4 * H), bias.data_ptr<A>(),
                                  gates_s.data_ptr<scalar_t>(), at_step<A>(cells, s), at_step<A>(cells, s + 1),
                                  at_step<scalar_t>(states, s + 1), out.data_ptr<scalar_t>(), TimeRows(s, T, B, D, H),
                                  D * B, H);
    }
  });
}

template <typename scalar_t>
void lstm_step_backward(const scalar_t* grad_h, const TimeRows& h_rows, const scalar_t* m, acc_t<scalar_t>* dc_carry,
                        const scalar_t* gates, const acc_t<scalar_t>* c_prev, const acc_t<scalar_t>* c,
                        scalar_t* dgates, const TimeRows& g_rows, scalar_t* dgates_step, int64_t rows, int64_t h) {
  using A = acc_t<scalar_t>;
  using V = Vectorized<A>;
  const int64_t G = 4 * h;
  for_rows<A>(rows, h, 10, [&](int64_t row, A* s) {
    A *gt = s, *dh = s + G, *mm = s + G + h, *out = s + G + 2 * h;
    widen(gates + row * G, gt, G);
    widen(h_rows.at(grad_h, row), dh, h);
    widen(m + row * h, mm, h);
    const A *cp = c_prev + row * h, *cc = c + row * h;
    A* dcr = dc_carry + row * h;
    const V one(A(1));
    FOR_LANES(h) {
      V i = L(gt), f = L(gt + h), g = L(gt + 2 * h), o = L(gt + 3 * h);
      V dhh = L(dh) + L(mm);
      V tc = tanh(L(cc));
      V dc = L(dcr) + dhh * o * (one - tc * tc);
      S(dc * g * i * (one - i), out);
      S(dc * L(cp) * f * (one - f), out + h);
      S(dc * i * (one - g * g), out + 2 * h);
      S(dhh * tc * o * (one - o), out + 3 * h);
      S(dc * f, dcr);
    }
    narrow<scalar_t>(out, g_rows.at(dgates, row), G);
    narrow<scalar_t>(out, dgates_step + row * G, G);
  });
}

// grad_h (T, B, D * H); dc_last (D, B, H) acc_t: the gradient of the last loop step's cell state (zeros
// if unused), overwritten; fills dgates (T, B, D * 4H) and dbias (D, 4H, acc_t, zeroed here).
void lstm_backward(const at::Tensor& grad_h, at::Tensor& dc_last, const at::Tensor& w_hh, const at::Tensor& gates,
                   const at::Tensor& cells, at::Tensor& dgates, at::Tensor& dbias) {
  check_all("an LSTM buffer", grad_h, dc_last, w_hh, gates, cells, dgates, dbias);
  const int64_t T = gates.size(0), D = gates.size(1), B = gates.size(2), H = gates.size(3) / 4;
  at::NoGradGuard no_grad;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, gates.scalar_type(), "lstm_backward", [&] {
    using A = acc_t<scalar_t>;
    TORCH_CHECK(dbias.scalar_type() == c10::CppTypeToScalarType<A>::value, "hwr recurrent: the LSTM bias "
                "gradient must be ", c10::CppTypeToScalarType<A>::value);
    dbias.zero_();
    at::Tensor m = at::zeros({D, B, H}, gates.options());
    at::Tensor step = at::empty({D, B, 4 * H}, gates.options());  // dgates[:, s] again, contiguous
    for (int64_t s = T - 1; s >= 0; --s) {
      lstm_step_backward<scalar_t>(grad_h.data_ptr<scalar_t>(), TimeRows(s, T, B, D, H), m.data_ptr<scalar_t>(),
                                   dc_last.data_ptr<A>(), at_step<scalar_t>(gates, s), at_step<A>(cells, s),
                                   at_step<A>(cells, s + 1), dgates.data_ptr<scalar_t>(), TimeRows(s, T, B, D, 4 * H),
                                   step.data_ptr<scalar_t>(), D * B, H);
      add_column_sums<scalar_t>(step.data_ptr<scalar_t>(), B * 4 * H, 4 * H, dbias.data_ptr<A>(), 4 * H, D, B,
                                4 * H);
      if (s > 0) at::bmm_out(m, step, w_hh);
    }
  });
}

}  // namespace

TORCH_LIBRARY(hwr_recurrent, m) {
  m.def("gru_forward(Tensor gi, Tensor w_hh_t, Tensor bias, Tensor(a!) states, Tensor(b!) ghn, Tensor(c!) rz, "
        "Tensor(d!) n, Tensor(e!) out) -> ()");
  m.def("gru_backward(Tensor grad_h, Tensor w_hh, Tensor ghn, Tensor rz, Tensor n, Tensor states, "
        "Tensor(a!) dgi, Tensor(b!) dgh, Tensor(c!) dbias) -> ()");
  m.def("lstm_forward(Tensor gi, Tensor w_hh_t, Tensor bias, Tensor(a!) states, Tensor(b!) cells, "
        "Tensor(c!) gates, Tensor(d!) out) -> ()");
  m.def("lstm_backward(Tensor grad_h, Tensor(a!) dc_last, Tensor w_hh, Tensor gates, Tensor cells, "
        "Tensor(b!) dgates, Tensor(c!) dbias) -> ()");
}

TORCH_LIBRARY_IMPL(hwr_recurrent, CPU, m) {
  m.impl("gru_forward", gru_forward);
  m.impl("gru_backward", gru_backward);
  m.impl("lstm_forward", lstm_forward);
  m.impl("lstm_backward", lstm_backward);
}
