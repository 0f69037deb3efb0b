import TuneCore

/// Compares a kernel's output with the reference. Element i passes when
/// `|got - expected| <= tolerance * (|expected| + rms(expected))`, with
/// `tolerance = slack * dtype.epsilon * sqrt(reduction length)`: rounding error of an
/// fp32 sum grows like the square root of its length, and measuring it against the
/// output's RMS as well keeps results near zero (cancellation) from failing spuriously.
public struct Verifier: Sendable {
    public let task: TaskSpec
    /// Multiplier on the ideal bound; covers blocked summation orders and libm's 1-2 ulp.
    public var slack: Double = 16

    public init(task: TaskSpec) { self.task = task }

    public var tolerance: Double {
        slack * task.dtype.epsilon * Double(max(1, task.reductionLength)).squareRoot()
    }

    /// nil when `output` matches `expected`, else a one-line description of the damage.
    public func check(output: UnsafeBufferPointer<Float>, expected: UnsafeBufferPointer<Float>) -> String? {
        guard output.count == expected.count else {
            return "output has \(output.count) elements, reference \(expected.count)"
        }
        var sq = 0.0
        for e in expected { sq += Double(e) * Double(e) }
        let rms = expected.isEmpty ? 0 : (sq / Double(expected.count)).squareRoot()
        let tol = tolerance
        var bad = 0, poison = 0, firstBad = -1
        var maxAbs = 0.0, maxRel = 0.0
        for i in output.indices {
            let g = output[i], e = Double(expected[i])
            if g.isNaN || g.isInfinite {
                if Poison.isPoison(g) { poison += 1 }
                bad += 1
                if firstBad < 0 { firstBad = i }
                maxAbs = .infinity; maxRel = .infinity
                continue
            }
            let err = abs(Double(g) - e)
            maxAbs = max(maxAbs, err)
            maxRel = max(maxRel, err / max(abs(e), Double.leastNormalMagnitude))
            if err > tol * (abs(e) + rms) {
                bad += 1
                if firstBad < 0 { firstBad = i }
            }
        }
        guard bad > 0 else { return nil }
        let g = output[firstBad], e = expected[firstBad]
        var msg = "\(bad) of \(output.count) elements wrong"
        if poison > 0 { msg += " (\(poison) never written: poison left)" }
        msg += "; first at [\(firstBad)]: got \(Poison.isPoison(g) ? "poison" : "\(g)"), expected \(e)"
        msg += "; max abs err \(fmt(maxAbs)), max rel err \(fmt(maxRel)); tolerance \(fmt(tol)) x (|expected| + rms \(fmt(rms)))"
        return msg
    }

    /// Checks every output of `buffers` against `reference` (same task).
    public func check(_ buffers: TensorBuffers, against reference: TensorBuffers) -> String? {
        for i in buffers.outputIndices {
            if let m = check(output: UnsafeBufferPointer(buffers.buffer(i)), expected: UnsafeBufferPointer(reference.buffer(i))) {
                return "\(buffers.tensors[i].name): \(m)"
            }
        }
        return nil
    }

    /// Float's shortest representation: enough digits for an error report.
    private func fmt(_ x: Double) -> String { x.isFinite ? "\(Float(x))" : "inf" }
}
