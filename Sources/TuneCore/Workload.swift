/// A task with its weight in a network (how many times the network runs it).
public struct WeightedTask: Hashable, Codable, Sendable {
    public var task: TaskSpec
    public var weight: Int
    public init(_ task: TaskSpec, weight: Int) { self.task = task; self.weight = weight }
}

/// The weighted tasks of a real network (or a user's list).
public struct Workload: Hashable, Codable, Sendable {
    public var name: String
    public var tasks: [WeightedTask]
    public init(name: String, tasks: [WeightedTask]) { self.name = name; self.tasks = tasks }
}

public struct WorkloadError: Error, Equatable, CustomStringConvertible, Sendable {
    public var line: Int
    public var message: String
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}

/// The workload file format, one task a line:
///
///     # ResNet-50 fully connected layer, run once per image
///     name: my-network
///     1 matmul m=1 n=1000 k=2048 bias=1
///     12 matmul m=128 n=3072 k=768 bias=1 act=gelu
///     3 conv2d c=64 h=56 w=56 k=64 r=3 s=3 pad=1 layout=nchw
///
/// A line is `WEIGHT OPERATOR key=value...`; `#` starts a comment; `name:` names the
/// workload. Values are integers, except `act` (none|relu|gelu), `layout` (nchw|nhwc) and
/// `dtype` (f32).
public enum WorkloadFile {
    public static func parse(_ text: String, defaultName: String) throws(WorkloadError) -> Workload {
        var name = defaultName
        var tasks: [WeightedTask] = []
        var seen: [TaskSpec: Int] = [:]
        var lineNo = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            if words[0] == "name:" {
                guard words.count == 2 else { throw WorkloadError(line: lineNo, message: "'name:' takes one word") }
                name = String(words[1]); continue
            }
            guard let weight = Int(words[0]), weight > 0 else {
                throw WorkloadError(line: lineNo, message: "expected a positive weight first, got '\(words[0])'")
            }
            guard words.count >= 2 else { throw WorkloadError(line: lineNo, message: "missing operator after the weight") }
            guard let op = OperatorKind(rawValue: String(words[1])) else {
                throw WorkloadError(line: lineNo, message: "unknown operator '\(words[1])' (known: \(OperatorKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            var params: [String: Int] = [:]
            var dtype = DType.f32
            for w in words.dropFirst(2) {
                let kv = w.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { throw WorkloadError(line: lineNo, message: "expected key=value, got '\(w)'") }
                let key = String(kv[0]), value = String(kv[1])
                if params[key] != nil { throw WorkloadError(line: lineNo, message: "'\(key)' given twice") }
                switch key {
                case "dtype":
                    guard let d = DType(rawValue: value) else { throw WorkloadError(line: lineNo, message: "unknown dtype '\(value)'") }
                    dtype = d
                case "act" where Int(value) == nil:
                    guard let a = Activation(name: value) else { throw WorkloadError(line: lineNo, message: "unknown activation '\(value)' (none, relu, gelu)") }
                    params[key] = a.rawValue
                case "layout" where Int(value) == nil:
                    switch value {
                    case "nchw": params[key] = ConvLayout.nchw.rawValue
                    case "nhwc": params[key] = ConvLayout.nhwc.rawValue
                    default: throw WorkloadError(line: lineNo, message: "unknown layout '\(value)' (nchw, nhwc)")
                    }
                default:
                    guard let v = Int(value) else { throw WorkloadError(line: lineNo, message: "'\(key)' must be an integer, got '\(value)'") }
                    params[key] = v
                }
            }
            let task: TaskSpec
            do { task = try TaskSpec(op: op, params: params, dtype: dtype) } catch {
                throw WorkloadError(line: lineNo, message: error.description)
            }
            if let i = seen[task] { tasks[i].weight += weight; continue }
            seen[task] = tasks.count
            tasks.append(WeightedTask(task, weight: weight))
        }
        if tasks.isEmpty { throw WorkloadError(line: 0, message: "workload '\(name)' has no tasks") }
        return Workload(name: name, tasks: tasks)
    }
}

/// Built-in workloads of real networks at batch 1, by name.
public enum BuiltinWorkloads {
    public static var names: [String] { sources.map(\.0) }

    public static func named(_ name: String) -> Workload? {
        guard let text = sources.first(where: { $0.0 == name })?.1 else { return nil }
        return try? WorkloadFile.parse(text, defaultName: name)
    }

    static let sources: [(String, String)] = [
        ("demo", """
        # Dense layers of BERT-base (sequence 128) and ResNet-50's classifier, scaled for a
        # quick demo on a small machine.
        name: demo
        24 matmul m=128 n=768 k=768 bias=1
        1 matmul m=1 n=1000 k=2048 bias=1
        12 matmul m=128 n=3072 k=768 bias=1 act=gelu
        """),
        ("bert-base", """
        # BERT-base, sequence 128, batch 1: per layer QKV and output projections, FFN, attention.
        name: bert-base
        48 matmul m=128 n=768 k=768 bias=1
        12 matmul m=128 n=3072 k=768 bias=1 act=gelu
        12 matmul m=128 n=768 k=3072 bias=1
        12 batch_matmul b=12 m=128 n=128 k=64
        12 batch_matmul b=12 m=128 n=64 k=128
        12 softmax rows=1536 cols=128
        """),
    ]
}
