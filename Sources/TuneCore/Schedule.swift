/// A schedule: named integer knobs. Its canonical encoding (knobs sorted by name) is its
/// identity for dedup, caching and records.
public struct Schedule: Hashable, Codable, Sendable, CustomStringConvertible {
    public private(set) var knobs: [Knob]

    public struct Knob: Hashable, Codable, Sendable {
        public var name: String
        public var value: Int
        public init(name: String, value: Int) { self.name = name; self.value = value }
    }

    public init(_ values: [String: Int]) {
        knobs = values.map { Knob(name: $0.key, value: $0.value) }.sorted { $0.name < $1.name }
    }

    /// Knobs already sorted by name, each name once (what sampling builds): no dictionary,
    /// no sort.
    init(sortedKnobs: [Knob]) { knobs = sortedKnobs }

    public subscript(_ name: String) -> Int? {
        knobs.first(where: { $0.name == name })?.value
    }

    /// The knob `name`, looked for first at `index`, where it sits in every schedule of a
    /// space whose knobs sort that way: a space's constraint checks run thousands of times
    /// a second during sampling, and equal names compare at once where unequal ones do not.
    public func value(of name: String, at index: Int) -> Int? {
        if index < knobs.count && knobs[index].name == name { return knobs[index].value }
        return self[name]
    }

    /// A knob code generation needs from a validated schedule: its absence is
    /// `missingKnob`, never a default.
    public func required(_ name: String) throws(ScheduleError) -> Int {
        guard let v = self[name] else { throw .missingKnob(name) }
        return v
    }

    public var values: [String: Int] {
        Dictionary(knobs.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// `name=value;name=value`, sorted by name.
    public var encoding: String { knobs.map { "\($0.name)=\($0.value)" }.joined(separator: ";") }
    public var description: String { encoding }

    /// Stable 64-bit identity of the encoding (hex).
    public var hash64: String { FNV1a.hex(encoding) }

    public init(encoding: String) throws(ScheduleError) {
        var values: [String: Int] = [:]
        for part in encoding.split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let v = Int(kv[1]), !kv[0].isEmpty else {
                throw ScheduleError.malformed("bad knob '\(part)'")
            }
            if values.updateValue(v, forKey: String(kv[0])) != nil {
                throw ScheduleError.malformed("knob '\(kv[0])' given twice")
            }
        }
        self.init(values)
    }
}

public enum ScheduleError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case unknownKnob(String)
    case missingKnob(String)
    case outOfDomain(knob: String, value: Int, allowed: [Int])
    case constraint(String)

    public var description: String {
        switch self {
        case .malformed(let m): return "malformed schedule: \(m)"
        case .unknownKnob(let k): return "unknown knob '\(k)'"
        case .missingKnob(let k): return "missing knob '\(k)'"
        case .outOfDomain(let k, let v, let allowed): return "knob '\(k)'=\(v) not in \(allowed)"
        case .constraint(let m): return "constraint violated: \(m)"
        }
    }
}

/// A knob and the finite set of values it may take.
public struct KnobDomain: Hashable, Sendable {
    public var name: String
    public var choices: [Int]
    /// For a knob added to a space later: the value a schedule without it stands for, so
    /// candidates stored before (a campaign resumed after an upgrade) stay valid.
    public var absentMeans: Int?
    public init(_ name: String, _ choices: [Int], absentMeans: Int? = nil) {
        self.name = name; self.choices = choices; self.absentMeans = absentMeans
    }
}

/// The space of schedules of one task on one device: a product of knob domains cut down by
/// constraints (register file, cache, device limits). Pure values; backends build them.
public protocol ScheduleSpace: Sendable {
    var knobs: [KnobDomain] { get }
    /// Constraint checks beyond the knob domains; nil when the schedule is valid.
    func constraintViolation(_ schedule: Schedule) -> String?
    /// The same verdict without the message: what sampling asks thousands of times a
    /// second (a space may answer it without building text).
    func satisfiesConstraints(_ schedule: Schedule) -> Bool
}

extension ScheduleSpace {
    public func satisfiesConstraints(_ schedule: Schedule) -> Bool { constraintViolation(schedule) == nil }
}

extension ScheduleSpace {
    /// Checks every knob against its domain and the constraints: the gate before codegen.
    public func validate(_ schedule: Schedule) throws(ScheduleError) {
        let schedule = completing(schedule)
        let domains = Dictionary(knobs.map { ($0.name, $0.choices) }, uniquingKeysWith: { a, _ in a })
        for k in schedule.knobs where domains[k.name] == nil { throw .unknownKnob(k.name) }
        for d in knobs {
            guard let v = schedule[d.name] else { throw .missingKnob(d.name) }
            if !d.choices.contains(v) { throw .outOfDomain(knob: d.name, value: v, allowed: d.choices) }
        }
        if let why = constraintViolation(schedule) { throw .constraint(why) }
    }

    /// `schedule` as a schedule stored before its `absentMeans` knobs existed would read:
    /// those knobs dropped where they hold that value.
    public func withoutLaterDefaults(_ schedule: Schedule) -> Schedule {
        guard knobs.contains(where: { $0.absentMeans != nil }) else { return schedule }
        var v = schedule.values
        for d in knobs { if let a = d.absentMeans, v[d.name] == a { v[d.name] = nil } }
        return v.count == schedule.knobs.count ? schedule : Schedule(v)
    }

    /// `schedule` with every absent knob that has an `absentMeans` value set to it.
    public func completing(_ schedule: Schedule) -> Schedule {
        var v = schedule.values
        for d in knobs where v[d.name] == nil { if let a = d.absentMeans { v[d.name] = a } }
        return v.count == schedule.knobs.count ? schedule : Schedule(v)
    }

    public func isValid(_ schedule: Schedule) -> Bool {
        do { try validate(schedule); return true } catch { return false }
    }

    /// Number of points before constraints.
    public var rawSize: Double { knobs.reduce(1.0) { $0 * Double($1.choices.count) } }

    /// A uniformly drawn valid schedule (rejection sampling); nil if none found in `attempts`.
    /// The searches' own seedable generator, not any generator: called on a space of unknown
    /// type, a generic version stayed unspecialized, every draw went through generic
    /// witnesses, and that was most of a random campaign's proposal time.
    public func sample(using rng: inout SplitMix64, attempts: Int = 10_000) -> Schedule? {
        let domains = knobs
        let names = domains.map(\.name)
        // Draws in the space's knob order (the same stream as always for a seed); the schedule
        // is built in name order directly, without a dictionary or a sort per attempt.
        let order = domains.indices.sorted { names[$0] < names[$1] }
        let unique = Set(names).count == names.count
        var values = [Int](repeating: 0, count: domains.count)
        for _ in 0..<attempts {
            for (i, d) in domains.enumerated() {
                // An empty domain means the space has no points at all on this device.
                guard let c = d.choices.randomElement(using: &rng) else { return nil }
                values[i] = c
            }
            let s = unique ? Schedule(sortedKnobs: order.map { Schedule.Knob(name: names[$0], value: values[$0]) })
                : Schedule(Dictionary(zip(names, values), uniquingKeysWith: { _, last in last }))
            if satisfiesConstraints(s) { return s }
        }
        return nil
    }
}
