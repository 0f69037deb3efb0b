/// Element type of a task's tensors. fp32 first; the type is a parameter everywhere.
public enum DType: String, Codable, Sendable, CaseIterable {
    case f32

    public var byteSize: Int { 4 }
    /// Relative tolerance per unit of sqrt(reduction length) used by verification.
    public var epsilon: Double { 1.2e-7 }
}

/// The operators TuneFleet can tune. Each has a parameter list, a tensor signature and a
/// FLOP count; backends add a schedule space and code generation per operator.
public enum OperatorKind: String, Codable, Sendable, CaseIterable {
    case matmul
    case batchMatmul = "batch_matmul"
    case conv2d
    case depthwiseConv2d = "depthwise_conv2d"
    case softmax
    case elementwise

    /// Parameter names, in canonical order, with their defaults (nil: required).
    public var parameters: [(name: String, defaultValue: Int?)] {
        switch self {
        case .matmul: return [("m", nil), ("n", nil), ("k", nil), ("bias", 0), ("act", 0)]
        case .batchMatmul: return [("b", nil), ("m", nil), ("n", nil), ("k", nil)]
        case .conv2d:
            return [("n", 1), ("c", nil), ("h", nil), ("w", nil), ("k", nil), ("r", nil), ("s", nil),
                    ("stride", 1), ("pad", 0), ("dil", 1), ("groups", 1), ("layout", 0)]
        case .depthwiseConv2d:
            return [("n", 1), ("c", nil), ("h", nil), ("w", nil), ("r", nil), ("s", nil),
                    ("stride", 1), ("pad", 0), ("dil", 1), ("layout", 0)]
        case .softmax: return [("rows", nil), ("cols", nil)]
        case .elementwise: return [("n", nil), ("chain", 0)]
        }
    }
}

/// Epilogue applied after a matmul/dense: `act` parameter values.
public enum Activation: Int, Codable, Sendable, CaseIterable {
    case none = 0, relu = 1, gelu = 2
    public var name: String { ["none", "relu", "gelu"][rawValue] }
    public init?(name: String) {
        guard let a = Activation.allCases.first(where: { $0.name == name }) else { return nil }
        self = a
    }
}

/// Data layout of a convolution's activations: `layout` parameter values.
public enum ConvLayout: Int, Codable, Sendable {
    case nchw = 0, nhwc = 1
    public var name: String { self == .nchw ? "nchw" : "nhwc" }
}

/// A canonical task name as a workload file writes it, for people: `act=gelu` and
/// `layout=nhwc` instead of their numbers (`matmul(m=1,...,act=2,f32)` -> `...act=gelu...`).
/// Anything else, or a name that does not parse, is returned as it is.
public func readableTaskName(_ name: String) -> String {
    guard let open = name.firstIndex(of: "("), name.hasSuffix(")") else { return name }
    let inner = name[name.index(after: open)..<name.index(before: name.endIndex)]
    let parts = inner.split(separator: ",", omittingEmptySubsequences: false).map { part -> String in
        let kv = part.split(separator: "=", maxSplits: 1)
        guard kv.count == 2, let v = Int(kv[1]) else { return String(part) }
        switch kv[0] {
        case "act": return Activation(rawValue: v).map { "act=\($0.name)" } ?? String(part)
        case "layout": return ConvLayout(rawValue: v).map { "layout=\($0.name)" } ?? String(part)
        default: return String(part)
        }
    }
    return String(name[...open]) + parts.joined(separator: ",") + ")"
}

public enum TensorRole: String, Codable, Sendable { case input, output }

/// One buffer a kernel reads or writes, in the order of the kernel's argument array.
public struct TensorDesc: Hashable, Codable, Sendable {
    public var name: String
    public var elementCount: Int
    public var role: TensorRole
    public init(name: String, elementCount: Int, role: TensorRole) {
        self.name = name; self.elementCount = elementCount; self.role = role
    }
}

public struct TaskSpecError: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A tuning task: an operator, its shape parameters and an element type. Its canonical
/// `name` is its identity (database key, dedup, display).
public struct TaskSpec: Hashable, Codable, Sendable, CustomStringConvertible {
    public let op: OperatorKind
    /// Parameters in the operator's canonical order, defaults filled in.
    public let params: [Param]
    public let dtype: DType

    public struct Param: Hashable, Codable, Sendable {
        public var name: String
        public var value: Int
    }

    /// Validates names and values: unknown or missing parameters and non-positive sizes are
    /// errors that name the parameter.
    public init(op: OperatorKind, params given: [String: Int], dtype: DType = .f32) throws(TaskSpecError) {
        var out: [Param] = []
        let known = Set(op.parameters.map(\.name))
        for name in given.keys.sorted() where !known.contains(name) {
            throw TaskSpecError("\(op.rawValue): unknown parameter '\(name)' (known: \(op.parameters.map(\.name).joined(separator: ", ")))")
        }
        for (name, def) in op.parameters {
            guard let v = given[name] ?? def else {
                throw TaskSpecError("\(op.rawValue): missing parameter '\(name)'")
            }
            out.append(Param(name: name, value: v))
        }
        self.op = op
        self.params = out
        self.dtype = dtype
        try validate()
    }

    /// A parameter by name. A name the operator does not have is a programming error: it
    /// stops debug builds and tests (a typo used to read as a silent 0) and reads as 0 in
    /// release builds. Prefer `shape`, the typed form.
    public subscript(_ name: String) -> Int {
        guard let v = params.first(where: { $0.name == name })?.value else {
            assertionFailure("\(op.rawValue) has no parameter '\(name)' (it has \(params.map(\.name).joined(separator: ", ")))")
            return 0
        }
        return v
    }

    private func validate() throws(TaskSpecError) {
        let nonNegative: Set<String> = ["pad", "bias", "act", "layout", "chain"]
        for p in params {
            if nonNegative.contains(p.name) {
                if p.value < 0 { throw TaskSpecError("\(op.rawValue): '\(p.name)' must be >= 0, got \(p.value)") }
            } else if p.value <= 0 {
                throw TaskSpecError("\(op.rawValue): '\(p.name)' must be > 0, got \(p.value)")
            }
            if p.value > 1 << 24 { throw TaskSpecError("\(op.rawValue): '\(p.name)' = \(p.value) is too large") }
        }
        switch op {
        case .matmul:
            if self["bias"] > 1 { throw TaskSpecError("matmul: 'bias' must be 0 or 1") }
            if Activation(rawValue: self["act"]) == nil { throw TaskSpecError("matmul: 'act' must be 0 (none), 1 (relu) or 2 (gelu)") }
        case .conv2d:
            if self["c"] % self["groups"] != 0 || self["k"] % self["groups"] != 0 {
                throw TaskSpecError("conv2d: channels c=\(self["c"]) and k=\(self["k"]) must be divisible by groups=\(self["groups"])")
            }
            if ConvLayout(rawValue: self["layout"]) == nil { throw TaskSpecError("conv2d: 'layout' must be 0 (NCHW) or 1 (NHWC)") }
            if outputHeight <= 0 || outputWidth <= 0 { throw TaskSpecError("conv2d: the window does not fit the padded input") }
        case .depthwiseConv2d:
            if ConvLayout(rawValue: self["layout"]) == nil { throw TaskSpecError("depthwise_conv2d: 'layout' must be 0 (NCHW) or 1 (NHWC)") }
            if outputHeight <= 0 || outputWidth <= 0 { throw TaskSpecError("depthwise_conv2d: the window does not fit the padded input") }
        case .elementwise:
            if self["chain"] > 3 { throw TaskSpecError("elementwise: 'chain' must be 0...3") }
        default: break
        }
        var total = 0
        for t in tensors { total += t.elementCount }
        if total > 1 << 28 { throw TaskSpecError("\(op.rawValue): tensors too large (\(total) elements)") }
    }

    /// Convolution output height/width (0 for other operators).
    public var outputHeight: Int {
        guard op == .conv2d || op == .depthwiseConv2d else { return 0 }
        return (self["h"] + 2 * self["pad"] - self["dil"] * (self["r"] - 1) - 1) / self["stride"] + 1
    }
    public var outputWidth: Int {
        guard op == .conv2d || op == .depthwiseConv2d else { return 0 }
        return (self["w"] + 2 * self["pad"] - self["dil"] * (self["s"] - 1) - 1) / self["stride"] + 1
    }

    /// The kernel's argument buffers: inputs first, outputs last.
    public var tensors: [TensorDesc] {
        let s = self
        switch op {
        case .matmul:
            var t = [TensorDesc(name: "A", elementCount: s["m"] * s["k"], role: .input),
                     TensorDesc(name: "B", elementCount: s["k"] * s["n"], role: .input)]
            if s["bias"] == 1 { t.append(TensorDesc(name: "bias", elementCount: s["n"], role: .input)) }
            t.append(TensorDesc(name: "C", elementCount: s["m"] * s["n"], role: .output))
            return t
        case .batchMatmul:
            return [TensorDesc(name: "A", elementCount: s["b"] * s["m"] * s["k"], role: .input),
                    TensorDesc(name: "B", elementCount: s["b"] * s["k"] * s["n"], role: .input),
                    TensorDesc(name: "C", elementCount: s["b"] * s["m"] * s["n"], role: .output)]
        case .conv2d:
            return [TensorDesc(name: "input", elementCount: s["n"] * s["c"] * s["h"] * s["w"], role: .input),
                    TensorDesc(name: "weight", elementCount: s["k"] * (s["c"] / s["groups"]) * s["r"] * s["s"], role: .input),
                    TensorDesc(name: "output", elementCount: s["n"] * s["k"] * outputHeight * outputWidth, role: .output)]
        case .depthwiseConv2d:
            return [TensorDesc(name: "input", elementCount: s["n"] * s["c"] * s["h"] * s["w"], role: .input),
                    TensorDesc(name: "weight", elementCount: s["c"] * s["r"] * s["s"], role: .input),
                    TensorDesc(name: "output", elementCount: s["n"] * s["c"] * outputHeight * outputWidth, role: .output)]
        case .softmax:
            return [TensorDesc(name: "x", elementCount: s["rows"] * s["cols"], role: .input),
                    TensorDesc(name: "y", elementCount: s["rows"] * s["cols"], role: .output)]
        case .elementwise:
            return [TensorDesc(name: "x", elementCount: s["n"], role: .input),
                    TensorDesc(name: "y", elementCount: s["n"], role: .input),
                    TensorDesc(name: "z", elementCount: s["n"], role: .output)]
        }
    }

    /// Floating-point operations of one run (a multiply-add counts 2).
    public var flops: Double {
        let s = self
        switch op {
        case .matmul: return 2.0 * Double(s["m"]) * Double(s["n"]) * Double(s["k"])
        case .batchMatmul: return 2.0 * Double(s["b"]) * Double(s["m"]) * Double(s["n"]) * Double(s["k"])
        case .conv2d:
            return 2.0 * Double(s["n"] * s["k"] * outputHeight * outputWidth) * Double(s["c"] / s["groups"] * s["r"] * s["s"])
        case .depthwiseConv2d:
            return 2.0 * Double(s["n"] * s["c"] * outputHeight * outputWidth) * Double(s["r"] * s["s"])
        case .softmax: return 5.0 * Double(s["rows"] * s["cols"])
        case .elementwise: return Double(s["n"]) * Double(max(1, s["chain"] + 1))
        }
    }

    /// Length of the reduction each output element sums over (drives verification tolerance).
    public var reductionLength: Int {
        switch op {
        case .matmul, .batchMatmul: return self["k"]
        case .conv2d: return self["c"] / self["groups"] * self["r"] * self["s"]
        case .depthwiseConv2d: return self["r"] * self["s"]
        case .softmax: return self["cols"]
        case .elementwise: return 1
        }
    }

    /// Canonical identity, e.g. `matmul(m=128,n=768,k=768,bias=0,act=0,f32)`.
    public var name: String {
        "\(op.rawValue)(" + params.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + ",\(dtype.rawValue))"
    }
    public var description: String { name }

    /// Parses a canonical name back (inverse of `name`).
    public init(name: String) throws(TaskSpecError) {
        guard let open = name.firstIndex(of: "("), name.hasSuffix(")") else {
            throw TaskSpecError("bad task name '\(name)'")
        }
        guard let op = OperatorKind(rawValue: String(name[..<open])) else {
            throw TaskSpecError("unknown operator '\(name[..<open])'")
        }
        var params: [String: Int] = [:]
        var dtype = DType.f32
        for item in name[name.index(after: open)..<name.index(before: name.endIndex)].split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1)
            if kv.count == 1, let d = DType(rawValue: String(kv[0])) { dtype = d; continue }
            guard kv.count == 2, let v = Int(kv[1]) else { throw TaskSpecError("bad parameter '\(item)' in '\(name)'") }
            params[String(kv[0])] = v
        }
        try self.init(op: op, params: params, dtype: dtype)
    }
}
