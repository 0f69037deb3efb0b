import Foundation
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
import TuneWire
#if canImport(Glibc)
import Glibc
#endif

/// Runs a shell command line (mount, ip netns: root only), its output discarded; whether it succeeded.
@discardableResult
func shell(_ line: String) -> Bool {
    guard let p = try? ChildProcess(executable: "/bin/sh", arguments: ["-c", line + " >/dev/null 2>&1"]) else { return false }
    return p.wait(timeout: 30) == .exited(0)
}

/// A real cluster of processes for one test, in its own folder, torn down afterwards.
func makeCluster(agents: Int, heartbeat: Double = 0.5, batchSize: Int = 2, coordinatorArguments: [String] = []) throws -> LocalCluster {
    guard let bin = executableDirectory() else { throw ControlError("no executable directory") }
    var s = LocalCluster.Settings(binDir: bin, dir: try makeTemporaryDirectory(prefix: "cluster-test"))
    s.heartbeat = heartbeat
    s.batchSize = batchSize
    s.coordinatorArguments = coordinatorArguments
    let c = try LocalCluster(settings: s)
    try c.startCoordinator()
    for i in 1...max(agents, 1) where agents > 0 { try c.startAgent(name: "agent-\(i)") }
    if agents > 0 { try c.waitForAgents(agents) }
    return c
}

/// Small GEMMs: quick to compile and run, so a campaign takes seconds.
func smallWorkload() throws -> Workload {
    Workload(name: "small", tasks: [
        WeightedTask(try TaskSpec(op: .matmul, params: ["m": 16, "n": 32, "k": 32]), weight: 2),
        WeightedTask(try TaskSpec(op: .matmul, params: ["m": 8, "n": 64, "k": 16, "bias": 1, "act": 1]), weight: 1),
    ])
}

func launch(_ c: LocalCluster, _ w: Workload, trials: Int) throws -> Int64 {
    var plan = MeasurePlan()
    plan.repeats = 2
    plan.minRepeatSeconds = 0.001
    return try c.client.launch(workload: w, trials: trials, devices: [.cpu], batchSize: 2, plan: plan, seed: 11)
}

/// Polls the coordinator until `condition` holds for the campaign (or throws); a coordinator
/// being restarted is asked again.
@discardableResult
func waitFor(_ c: LocalCluster, campaign: Int64, timeout: Double = 300,
             _ condition: (Tunefleet_V1_CampaignStatus) -> Bool) throws -> Tunefleet_V1_CampaignStatus {
    do {
        return try c.client.waitForCampaign(campaign, timeout: timeout, poll: 0.05, retryUnanswered: true, until: condition)
    } catch let e as ControlClient.CampaignWaitError {
        throw ControlError("\(e) (logs in \(c.settings.dir))")
    }
}
