import TuneCore
import TuneWire

/// A peer's ZeroMQ routing identity: one per connection.
public struct AgentKey: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// What a hello tells the coordinator.
public struct AgentHello: Sendable, Equatable {
    public var name: String
    public var instance: String
    public var profile: DeviceProfile
    public var slots: Int
    public init(name: String, instance: String, profile: DeviceProfile, slots: Int) {
        self.name = name; self.instance = instance; self.profile = profile; self.slots = slots
    }
}

/// The dispatcher's view of one job: what is waiting to be measured.
public struct JobQueue: Sendable {
    public var jobID: Int64
    public var task: TaskSpec
    public var deviceClass: DeviceClass
    public var plan: MeasurePlan
    public var batchSize: Int
    /// Dispatch order, higher first: the task scheduler's call.
    public var priority: Double
    public var pending: [Candidate]
    /// Devices (fingerprints) whose vendor baseline is recorded or on its way.
    public var baselines: Set<String>
    /// Times a pending candidate's agent was lost while measuring it (from the database).
    public var lostAttempts: [Int64: Int]

    public init(jobID: Int64, task: TaskSpec, deviceClass: DeviceClass, plan: MeasurePlan, batchSize: Int,
                priority: Double, pending: [Candidate], baselines: Set<String>, lostAttempts: [Int64: Int] = [:]) {
        self.jobID = jobID; self.task = task; self.deviceClass = deviceClass; self.plan = plan
        self.batchSize = batchSize; self.priority = priority; self.pending = pending; self.baselines = baselines
        self.lostAttempts = lostAttempts
    }
}

/// A batch as sent to an agent.
public struct DispatchedBatch: Sendable, Equatable {
    public var batchID: UInt64
    public var jobID: Int64
    public var task: TaskSpec
    public var plan: MeasurePlan
    public var candidates: [Candidate]
}

public enum DispatchEvent: Sendable {
    case hello(AgentKey, AgentHello)
    /// Any message proves the agent is alive; heartbeats carry nothing else we need.
    case heard(AgentKey)
    /// The agent stops on purpose: hand its batches back now.
    case goodbye(AgentKey, reason: String)
    case result(AgentKey, batchID: UInt64, MeasureResult)
    /// These results are durably stored: their batches may finish.
    case committed([(batchID: UInt64, candidateID: Int64)])
    /// A result of this session that cannot be stored (content out of range): measure again.
    case resultRefused(AgentKey, batchID: UInt64, candidateID: Int64)
    case tick
    case jobAdded(JobQueue)
    case candidatesAdded(jobID: Int64, [Candidate])
    case jobRemoved(jobID: Int64)
    /// The job's campaign was cancelled: drop its queue and call back its batches in flight.
    case jobCancelled(jobID: Int64)
    case prioritySet(jobID: Int64, Double)
}

public enum Directive: Sendable, Equatable {
    case welcome(AgentKey)
    case reject(AgentKey, Tunefleet_V1_RejectCode, String)
    case heartbeat(AgentKey)
    case dispatch(AgentKey, DispatchedBatch)
    /// Commit, then acknowledge to the agent (never the other way round).
    case commit(AgentKey, batchID: UInt64, MeasureResult, agent: String, device: String)
    case commitBaseline(AgentKey, batchID: UInt64, jobID: Int64, MeasureResult, device: String)
    /// Nothing to store (an unknown batch's baseline); acknowledge so the agent forgets it.
    case acknowledge(AgentKey, batchID: UInt64, candidateID: Int64)
    /// A result that is not this session's to give: refuse it (the agent forgets it), store nothing.
    case refuseResult(AgentKey, batchID: UInt64, candidateID: Int64, reason: String)
    /// The agent went silent; its unfinished candidates went back to their queues.
    case agentLost(AgentKey, name: String, deviceClass: DeviceClass, requeued: Int)
    /// Candidates whose agent was lost while measuring them: count the attempt durably.
    case attemptsLost(candidateIDs: [Int64])
    /// Candidates lost with their agents too often: record them as `agent_lost`.
    case giveUp(candidateIDs: [Int64])
    case agentJoined(AgentKey, AgentHello)
    /// The agent said goodbye; its unanswered candidates went back to their queues.
    case agentLeft(AgentKey, name: String, reason: String, requeued: Int)
    /// Tell the agent to stop measuring these batches (their campaign was cancelled).
    case cancelBatches(AgentKey, [UInt64])
}

public struct DispatchSettings: Sendable {
    public var heartbeatInterval = 1.0
    /// An agent silent for this many intervals is lost.
    public var agentTimeoutIntervals = 4.0
    /// A candidate whose agent was lost this many times is recorded as `agent_lost`.
    public var maxLostAttempts = 3
    public init() {}
}
