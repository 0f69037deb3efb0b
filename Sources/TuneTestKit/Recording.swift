import Foundation
import TuneCore

/// Measurements recorded on a real device, to replay: for each task, every recorded
/// schedule with its outcome. Loaded from `coordctl export` JSONL or from the H100 bench
/// table (`tools/gpu-results/h100-run4/bench-all.tsv.xz`, decompressed).
public struct Recording: Sendable {
    public struct Outcome: Hashable, Sendable {
        public var status: MeasureStatus
        public var seconds: Double?
        public init(status: MeasureStatus, seconds: Double?) { self.status = status; self.seconds = seconds }
    }

    /// Per task, the recorded schedules in file order (the replay space's points).
    public private(set) var points: [TaskSpec: [(schedule: Schedule, outcome: Outcome)]] = [:]
    public init() {}

    public mutating func add(task: TaskSpec, schedule: Schedule, _ outcome: Outcome) {
        if points[task]?.contains(where: { $0.schedule == schedule }) == true { return }
        points[task, default: []].append((schedule, outcome))
    }

    public var tasks: [TaskSpec] { points.keys.sorted { $0.name < $1.name } }

    /// The fastest recorded time of a task.
    public func best(_ task: TaskSpec) -> Double? { points[task]?.compactMap(\.outcome.seconds).min() }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// `coordctl export` lines of one device class.
    public static func exportJSONL(_ text: String, deviceClass: DeviceClass) throws -> Recording {
        struct Line: Decodable {
            var task: String, schedule: String, status: String, device_class: String, median_seconds: Double?
        }
        var r = Recording()
        for (i, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            let l: Line
            do { l = try JSONDecoder().decode(Line.self, from: Data(line.utf8)) } catch {
                throw ParseError(line: i + 1, message: "\(error)")
            }
            guard l.device_class == deviceClass.rawValue else { continue }
            guard let status = MeasureStatus(rawValue: l.status) else { throw ParseError(line: i + 1, message: "unknown status \(l.status)") }
            r.add(task: try TaskSpec(name: l.task), schedule: try Schedule(encoding: l.schedule),
                  Outcome(status: status, seconds: status == .ok ? l.median_seconds : nil))
        }
        return r
    }

    /// The GPU bench table: `task<TAB>schedule<TAB>status<TAB>seconds...` with a header.
    public static func benchTSV(_ text: String) throws -> Recording {
        var r = Recording()
        for (i, line) in text.split(separator: "\n").enumerated().dropFirst() where !line.isEmpty {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count >= 4, let status = MeasureStatus(rawValue: String(f[2])) else {
                throw ParseError(line: i + 1, message: "expected task, schedule, status, seconds")
            }
            r.add(task: try TaskSpec(name: String(f[0])), schedule: try Schedule(encoding: String(f[1])),
                  Outcome(status: status, seconds: status == .ok ? Double(f[3]) : nil))
        }
        return r
    }
}

/// The space of a recorded task: one knob, `point`, the index of a recorded schedule, so
/// every sample is a point the recording can answer.
public struct ReplaySpace: ScheduleSpace {
    public let schedules: [Schedule]
    public var knobs: [KnobDomain] { [KnobDomain("point", Array(schedules.indices))] }
    public init(schedules: [Schedule]) { self.schedules = schedules }
    public func constraintViolation(_ s: Schedule) -> String? { nil }
    /// The recorded schedule a replay point stands for.
    public func recorded(_ s: Schedule) -> Schedule? { s["point"].flatMap { schedules.indices.contains($0) ? schedules[$0] : nil } }
}

/// Answers measurements as an agent would, without a process or a clock: from a recording
/// (every point of a recorded task, the same status and time every time), or from a
/// synthetic landscape over a real space.
public struct ReplayFleet: Sendable {
    public let recording: Recording
    let spaceOf: @Sendable (TaskSpec) -> (any ScheduleSpace)?
    let outcomeOf: @Sendable (TaskSpec, Schedule) -> Recording.Outcome?

    public init(_ recording: Recording) {
        self.recording = recording
        spaceOf = { task in recording.points[task].map { ReplaySpace(schedules: $0.map(\.schedule)) } }
        outcomeOf = { task, s in
            guard let i = s["point"], let r = recording.points[task], r.indices.contains(i) else { return nil }
            return r[i].outcome
        }
    }

    /// A landscape: `space` gives each task's space, `seconds` each valid schedule's time.
    public init(space: @escaping @Sendable (TaskSpec) -> (any ScheduleSpace)?,
                seconds: @escaping @Sendable (TaskSpec, Schedule) -> Double) {
        recording = Recording()
        spaceOf = space
        outcomeOf = { task, s in
            guard let sp = space(task), sp.isValid(s) else { return nil }
            return .init(status: .ok, seconds: seconds(task, s))
        }
    }

    public func space(for task: TaskSpec) -> (any ScheduleSpace)? { spaceOf(task) }

    /// The result of measuring `candidate` of `task`.
    public func measure(task: TaskSpec, candidate: Candidate) -> MeasureResult {
        guard let o = outcomeOf(task, candidate.schedule) else {
            return MeasureResult(candidateID: candidate.id, status: .invalidSchedule, errorText: "not in the recording")
        }
        return MeasureResult(candidateID: candidate.id, status: o.status, samples: o.seconds.map { [$0] } ?? [],
                             errorText: o.status == .ok ? "" : "recorded \(o.status.rawValue)")
    }
}
