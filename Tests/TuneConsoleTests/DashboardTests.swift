import Foundation
import Testing
import TuneCore
@testable import TuneConsole

@Suite struct DashboardRendering {
    @Test func summaryShowsTheVendorRatio() {
        let c = StatusJSON.Campaign(id: 1, workload: "w", state: "completed", trials_done: 2, trials_total: 2, tasks: [
            .init(name: "matmul(m=1,n=1,k=1,bias=0,act=0,f32)", device_class: "cpu", weight: 1, trials_done: 2, trials_total: 2,
                  failures: 0, best_seconds: 0.002, vendor_seconds: 0.003, best_gflops: 1.5),
        ])
        let text = Dashboard.summary(c)
        #expect(text.contains("1.50x"))
        #expect(text.contains("2.00 ms"))
    }

    @Test func theFastestVendorIsNamedAndAWeakOneIsFlagged() {
        let c = StatusJSON.Campaign(id: 1, workload: "w", state: "completed", trials_done: 2, trials_total: 2, tasks: [
            .init(name: "matmul(m=1,n=1,k=1,bias=0,act=0,f32)", device_class: "cpu", weight: 1, trials_done: 2, trials_total: 2,
                  failures: 0, best_seconds: 0.002, vendor_seconds: 0.003, best_gflops: 1.5, vendor_library: "openblas",
                  vendor_note: "OpenBLAS ran its Prescott kernels, below this device's x86-64-v4"),
        ])
        let text = Dashboard.summary(c)
        #expect(text.contains("3.00 ms openblas !"))
        #expect(text.contains("! OpenBLAS ran its Prescott kernels"))
    }

    @Test func theNetworkLatencyIsTheWeightedSumOfBests() {
        let c = StatusJSON.Campaign(id: 1, workload: "w", state: "running", trials_done: 3, trials_total: 9, tasks: [
            .init(name: "a", device_class: "cpu", weight: 3, trials_done: 1, trials_total: 3, failures: 0, best_seconds: 0.002,
                  vendor_seconds: 0.003, best_gflops: 1),
            .init(name: "b", device_class: "cpu", weight: 1, trials_done: 1, trials_total: 3, failures: 0, best_seconds: 0.004,
                  vendor_seconds: 0.002, best_gflops: 1),
            .init(name: "c", device_class: "cpu", weight: 1, trials_done: 0, trials_total: 3, failures: 0, best_seconds: nil,
                  vendor_seconds: nil, best_gflops: nil),
        ])
        let e = Dashboard.networkLatency(c)
        #expect(e.count == 1 && abs(e[0].tuned - 0.010) < 1e-12 && abs(e[0].vendor! - 0.011) < 1e-12)
        #expect(e[0].tasksTuned == 2 && e[0].tasks == 3)
    }

    @Test func progressBarsFill() {
        #expect(Dashboard.bar(done: 5, total: 10, width: 10) == "[#####.....]")
        #expect(Dashboard.bar(done: 0, total: 0, width: 4) == "[....]")
    }
}

/// A campaign over cpu and cuda shows both device classes on the dashboard.
@Suite struct MixedDeviceDashboard {
    @Test func dashboardShowsBothDeviceClasses() throws {
        let name = "matmul(m=1024,n=1024,k=1024,bias=0,act=0,f32)"
        // The status as coordctl receives it (`status --json` shape).
        let json = """
        {"agents": [
          {"name": "node-cpu", "device_class": "cpu", "state": "idle", "device": "Xeon", "slots": 1, "busy_slots": 0},
          {"name": "node-cuda0", "device_class": "cuda", "state": "busy", "device": "NVIDIA H100", "slots": 1, "busy_slots": 1}],
         "campaigns": [{"id": 1, "workload": "w", "state": "running", "trials_done": 3, "trials_total": 4, "tasks": [
          {"name": "\(name)", "device_class": "cpu", "weight": 1, "trials_done": 2, "trials_total": 2, "failures": 0,
           "best_seconds": 0.01, "vendor_seconds": 0.012, "best_gflops": 214},
          {"name": "\(name)", "device_class": "cuda", "weight": 1, "trials_done": 1, "trials_total": 2, "failures": 0,
           "best_seconds": 0.0001, "best_gflops": 21474}]}],
         "results_per_second": 1, "results_total": 3}
        """
        let s = try JSONDecoder().decode(StatusJSON.self, from: Data(json.utf8))
        let text = Dashboard.render(s)
        #expect(text.contains("node-cuda0") && text.contains("NVIDIA H100"))
        // Written as a workload file would: act=none, not act=0.
        let taskLines = text.split(separator: "\n").filter { $0.contains(readableTaskName(name)) }
        #expect(readableTaskName(name).contains("act=none"))
        #expect(taskLines.count == 2)
        #expect(taskLines.contains { $0.contains(" cpu ") } && taskLines.contains { $0.contains(" cuda ") })
    }
}

@Suite struct DurationsAndETA {
    @Test(arguments: [("90", 90.0), ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1.5h", 5400), ("1d", 86400)])
    func durationsParse(text: String, seconds: Double) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test(arguments: ["", "abc", "10x", "-5m", "0", "1h30", "m"])
    func badDurationsAreRefused(text: String) {
        #expect(DurationText.seconds(text) == nil)
    }

    @Test func theETAIsTheSoonerOfTheBudgetAndTheTimeLimit() {
        var c = StatusJSON.Campaign(id: 1, workload: "w", state: "running", trials_done: 25, trials_total: 100, tasks: [],
                                    elapsed_seconds: 50)
        #expect(Dashboard.eta(c) == 150, "75 trials left at 2 s each")
        c.time_limit_seconds = 80
        #expect(Dashboard.eta(c) == 30, "the time limit comes first")
        c.trials_total = 100_000_000
        c.time_limit_seconds = 200
        #expect(Dashboard.eta(c) == 150, "a time-only campaign ends with its limit")
        c.state = "completed"
        #expect(Dashboard.eta(c) == nil)
    }
}

@Suite struct ControlOptionsBeforeTheSubcommand {
    @Test func leadingConnectionOptionsMoveAfterTheSubcommand() {
        #expect(CommandLineOrder.movingLeadingOptions(["--control", "tcp://h:1", "campaign", "launch", "--workload", "demo"])
                == ["campaign", "launch", "--workload", "demo", "--control", "tcp://h:1"])
        #expect(CommandLineOrder.movingLeadingOptions(["--control=tcp://h:1", "--request-timeout", "2", "status"])
                == ["status", "--control=tcp://h:1", "--request-timeout", "2"])
        #expect(CommandLineOrder.movingLeadingOptions(["status", "--control", "x"]) == ["status", "--control", "x"])
        #expect(CommandLineOrder.movingLeadingOptions(["--control"]) == ["--control"], "a missing value is left for the parser to name")
        #expect(CommandLineOrder.movingLeadingOptions(["--help"]) == ["--help"])
    }
}

@Suite struct WaitingForAgents {
    @Test func aRunningCampaignWithWorkForAnAbsentClassSaysSo() {
        let task = { (dc: String, done: Int) in
            StatusJSON.Task(name: "t", device_class: dc, weight: 1, trials_done: done, trials_total: 4, failures: 0)
        }
        let c = StatusJSON.Campaign(id: 1, workload: "w", state: "running", trials_done: 4, trials_total: 12,
                                    tasks: [task("cpu", 0), task("cuda", 0), task("cuda", 4)])
        let cpuAgent = StatusJSON.Agent(name: "a", device_class: "cpu", state: "idle", device: "x", slots: 1, busy_slots: 0)
        let lostGPU = StatusJSON.Agent(name: "g", device_class: "cuda", state: "lost", device: "", slots: 0, busy_slots: 0)
        #expect(Dashboard.waitingFor(c, agents: [cpuAgent, lostGPU]) == ["cuda"])
        #expect(Dashboard.waitingFor(c, agents: []) == ["cpu", "cuda"])
        var done = c
        done.state = "completed"
        #expect(Dashboard.waitingFor(done, agents: []).isEmpty)
    }
}

@Suite struct DefaultCampaignList {
    @Test func runningCampaignsOnlyOrTheNewestFinishedWhenNoneRuns() {
        func c(_ id: Int64, _ state: String) -> StatusJSON.Campaign {
            StatusJSON.Campaign(id: id, workload: "w", state: state, trials_done: 0, trials_total: 1, tasks: [])
        }
        #expect(Dashboard.shownByDefault([c(1, "completed"), c(2, "running"), c(3, "cancelled"), c(4, "running")]).map(\.id) == [2, 4])
        #expect(Dashboard.shownByDefault([c(1, "completed"), c(3, "cancelled")]).map(\.id) == [3])
        #expect(Dashboard.shownByDefault([]).isEmpty)
    }
}
