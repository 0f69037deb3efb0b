import TuneCore

// Each CPU template decodes a validated schedule once into a typed value, so code
// generation never invents a default for a knob that is missing: a missing knob is an
// error before any code is written.

/// The knobs of `GemmSpace` (see its documentation for their meaning).
struct GemmKnobs: Hashable, Sendable {
    let mr: Int, nr: Int, vec: Int, mc: Int, nc: Int, kc: Int, kunroll: Int
    let packA: Bool, packB: Bool
    let order: Int, threads: Int, par: Int

    init(_ s: Schedule) throws(ScheduleError) {
        mr = try s.required("mr"); nr = try s.required("nr"); vec = try s.required("vec")
        mc = try s.required("mc"); nc = try s.required("nc"); kc = try s.required("kc"); kunroll = try s.required("kunroll")
        packA = try s.required("packA") == 1; packB = try s.required("packB") == 1
        order = try s.required("order"); threads = try s.required("threads"); par = try s.required("par")
    }
}

/// The knobs of `ConvSpace`.
struct ConvKnobs: Hashable, Sendable {
    let vec: Int, rb: Int, rv: Int, cb: Int, order: Int, unroll: Int, threads: Int, axis: Int, par: Int

    init(_ s: Schedule) throws(ScheduleError) {
        vec = try s.required("vec"); rb = try s.required("rb"); rv = try s.required("rv"); cb = try s.required("cb")
        order = try s.required("order"); unroll = try s.required("unroll"); threads = try s.required("threads")
        axis = try s.required("axis"); par = try s.required("par")
    }
}

/// The knobs of `DepthwiseSpace`.
struct DepthwiseKnobs: Hashable, Sendable {
    let vec: Int, rb: Int, rv: Int, unroll: Int, threads: Int

    init(_ s: Schedule) throws(ScheduleError) {
        vec = try s.required("vec"); rb = try s.required("rb"); rv = try s.required("rv")
        unroll = try s.required("unroll"); threads = try s.required("threads")
    }
}

/// The knobs of `StreamSpace` (softmax, elementwise).
struct StreamKnobs: Hashable, Sendable {
    let vec: Int, unroll: Int, threads: Int

    init(_ s: Schedule) throws(ScheduleError) {
        vec = try s.required("vec"); unroll = try s.required("unroll"); threads = try s.required("threads")
    }
}
