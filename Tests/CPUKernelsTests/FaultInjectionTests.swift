import KernelReference
import Testing
import TuneCore
@testable import CPUKernels

@Suite struct FaultInjectionTests {
    let task = try! TaskSpec(name: "elementwise(n=64,chain=0,f32)")
    let options = CodegenOptions(allowFaultInjection: true)

    func source(fault: Int) throws -> String {
        try CPUKernels.generate(task: task, schedule: Schedule(["vec": 4, "unroll": 1, "threads": 1, "fault": fault]),
                                device: HostDevice.profile, threads: 1, options: options).source
    }

    @Test func crashAndHangFaultsAreInTheSource() throws {
        // Not run here: they would take the test process down. The agent's worker runs them.
        #expect(try source(fault: 1).contains("*nowhere = 1.0f"))
        #expect(try source(fault: 2).contains("while (spin)"))
        let clean = try source(fault: 0)
        #expect(!clean.contains("nowhere") && !clean.contains("spin"))
    }

    @Test func wrongAnswerFaultIsCaughtByTheVerifier() throws {
        let failure = try runAndVerify(task, Schedule(["vec": 4, "unroll": 1, "threads": 1, "fault": 3]), options: options)
        #expect(failure?.contains("first at [0]") == true, "\(failure ?? "nil")")
    }
}
