import TuneCore
import TuneSearch
import TuneTransport

public struct CoordinatorSettings: Sendable {
    /// Where agents connect. Default: loopback only.
    public var agentEndpoint = "tcp://127.0.0.1:7700"
    /// Where coordctl connects. Default: loopback only.
    public var controlEndpoint = "tcp://127.0.0.1:7701"
    public var dispatch = DispatchSettings()
    /// Search, scheduling and retraining.
    public var tuning = TuningLoop.Settings()
    /// Good schedules known before this database (the shipped reference set's fastest of
    /// every task and device): a guided job with nothing measured starts from the most
    /// similar of these and of the database's own, transfer-tuned.
    public var knownSchedules: [TransferSource] = []
    /// Compute proposals (model scoring) on a worker thread, off the dispatch path.
    public var proposalsOffPath = true
    /// Finished campaigns a status reply lists (the newest), beside every running one.
    public var finishedCampaignsInStatus = 20
    /// Agents a status reply lists: connected ones (at most this many) and recently lost ones.
    public var maxAgentsInStatus = 200
    public var maxLostAgentsInStatus = 20
    /// A lost agent is forgotten after this long.
    public var lostAgentMemorySeconds = 600.0
    /// Candidates per batch unless a launch says otherwise.
    public var defaultBatchSize = 4
    /// Name sent in Welcome, for logs on the agents.
    public var coordinatorID = "coordd"
    /// CURVE on both sockets: the coordinator's key pair and the public keys allowed in
    /// (agents and operators). nil: plain TCP, which coordd allows on loopback only.
    public var curve: CurveServerSettings?
    public init() {}
}

public struct CurveServerSettings: Sendable {
    public var keys: CurveKeyPair
    public var allow: AllowList
    public init(keys: CurveKeyPair, allow: AllowList) { self.keys = keys; self.allow = allow }
}
