import Testing
import TuneCore
import TuneStore
@testable import TuneConsole

@Suite struct SearchConfirmationTests {
    let a = "matmul(m=64,n=64,k=64,bias=0,act=0,f32)", b = "softmax(rows=64,cols=64,f32)"

    func row(_ task: String, _ schedule: String, _ seconds: Double?, at t: Double, status: String = "ok", cls: String = "cpu") -> ExportRow {
        var r = ExportRow(campaign: 1, task: task, deviceClass: cls, candidate: 1, schedule: schedule, device: "d", agent: "x",
                          status: status, medianSeconds: seconds, samples: seconds.map { [$0] } ?? [], compileSeconds: 0, error: "")
        r.createdAt = 100 + t
        return r
    }

    func key(_ task: String, _ s: String) -> SearchConfirmation.Key { SearchConfirmation.Key(task: task, schedule: try! Schedule(encoding: s)) }

    @Test func theLastImprovementsOfEachTaskAreTheOnesTimedAgain() {
        let rows = [
            row(a, "x=1", 9, at: 1), row(a, "x=2", 10, at: 2), row(a, "x=3", 7, at: 3), row(b, "y=1", 5, at: 4),
            row(a, "x=4", 1, at: 5, status: "wrong_answer"), row(a, "x=5", 6, at: 6), row(a, "x=6", 6.5, at: 7),
            row(a, "x=7", 2, at: 8, cls: "cuda"),
        ]
        let setters = SearchConfirmation.recordSetters(rows, deviceClass: "cpu", perTask: 2)
        // a improved at x=1, x=3, x=5 (x=2 and x=6 were slower, x=4 failed, x=7 is another class): the last two.
        #expect(setters == [key(a, "x=3"), key(a, "x=5"), key(b, "y=1")])
        #expect(SearchConfirmation.recordSetters(rows, deviceClass: "cpu", perTask: 0).isEmpty)
    }

    @Test func runsTakeTurnsAndASharedScheduleIsTimedOnce() throws {
        let given = SearchConfirmation.interleave([[key(a, "x=1"), key(a, "x=2"), key(b, "y=1")], [key(a, "x=2"), key(a, "x=9")]])
        #expect(given[a] == [try Schedule(encoding: "x=1"), try Schedule(encoding: "x=2"), try Schedule(encoding: "x=9")])
        #expect(given[b] == [try Schedule(encoding: "y=1")])
    }

    /// Two runs found the same schedules, one while the machine ran 10% slow: as timed, the
    /// slow run never comes within 5% of the fast one's best; replayed with the pass's times,
    /// both reach it at the same trial.
    @Test func aRunTimedWhileTheMachineWasSlowIsReplayedWithTheSideBySideTimes() throws {
        let weights = [a: 2, b: 1]
        func run(_ slow: Double) -> [ExportRow] {
            [row(b, "y=1", 1 * slow, at: 1), row(a, "x=1", 4 * slow, at: 2), row(a, "x=2", 3 * slow, at: 3), row(a, "x=3", 2 * slow, at: 4),
             row(a, "x=4", 2.05 * slow, at: 5)]
        }
        let fast = run(1), slow = run(1.1)
        let timings = [key(a, "x=2"): 3.0, key(a, "x=3"): 2.0, key(b, "y=1"): 1.0]
        let asTimed = [fast, slow].map { SearchConfirmation.points($0, weights: weights, campaignStart: 100, deviceClass: "cpu", confirmed: [:]) }
        #expect(asTimed[1].last!.seconds > 1.05 * asTimed[0].last!.seconds)
        let replayed = [fast, slow].map { SearchConfirmation.points($0, weights: weights, campaignStart: 100, deviceClass: "cpu", confirmed: timings) }
        #expect(replayed[0].map(\.seconds) == [9, 7, 5], "2x4+1, then 2x3+1 and 2x2+1 at the confirmed times")
        let firstAsTimed: Double = 2 * (4 * 1.1) + 1
        #expect(replayed[1].map(\.seconds) == [firstAsTimed, 7, 5], "the first, never confirmed, as timed")
        let trials: [Int] = [2, 3, 4]
        #expect(replayed[0].map(\.trials) == trials)
        #expect(replayed[1].map(\.trials) == trials)
        #expect(replayed[0].last?.elapsed == 4)
        // Once a task has a confirmed schedule, results the pass did not time no longer count.
        let luckyLate = fast + [row(a, "x=5", 1.5, at: 6)]
        #expect(SearchConfirmation.points(luckyLate, weights: weights, campaignStart: 100, deviceClass: "cpu", confirmed: timings).last!.seconds == 5)
        let drift = SearchConfirmation.drift(runs: [slow], deviceClass: "cpu", confirmed: timings)
        #expect(drift.pairs == 3 && abs(drift.medianDifference - (1 / 1.1 - 1)) < 1e-9)
    }
}
