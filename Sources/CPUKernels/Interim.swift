import TuneCore

// Interim matmul template so the cluster runs end to end while the full CPU template set
// is written; replaced by the real CPUKernels.

struct InterimMatmulSpace: ScheduleSpace {
    var knobs: [KnobDomain] = [
        KnobDomain("tm", [1, 2, 4, 8]), KnobDomain("tn", [4, 8, 16, 32, 64]),
        KnobDomain("tk", [16, 32, 64, 128, 256]), KnobDomain("unroll", [1, 2, 4]), KnobDomain("order", [0, 1]),
    ]
    func constraintViolation(_ s: Schedule) -> String? { nil }
}

public enum CPUKernels {
    public static func space(for task: TaskSpec, device: DeviceProfile, threads: Int) -> (any ScheduleSpace)? {
        task.op == .matmul ? InterimMatmulSpace() : nil
    }

    public static func generate(task: TaskSpec, schedule: Schedule, device: DeviceProfile, threads: Int,
                                options: CodegenOptions) throws(ScheduleError) -> GeneratedKernel {
        var s = schedule.values
        let fault = s.removeValue(forKey: "fault") ?? 0
        if fault != 0 && !options.allowFaultInjection { throw .unknownKnob("fault") }
        guard let space = space(for: task, device: device, threads: threads) else { throw .constraint("no CPU template for \(task.op.rawValue)") }
        try space.validate(Schedule(s))
        let M = task["m"], N = task["n"], K = task["k"]
        let tm = s["tm"]!, tn = s["tn"]!, tk = s["tk"]!, unroll = s["unroll"]!
        let bias = task["bias"] == 1
        let act = Activation(rawValue: task["act"]) ?? .none
        let faultCode: String
        switch fault {
        case 1: faultCode = "*(volatile float *)0 = 1.0f;"
        case 2: faultCode = "for (volatile int spin = 0; ; spin += 0) {}"
        case 3: faultCode = "C[0] += 1.0f;"
        default: faultCode = ""
        }
        let loops = s["order"] == 0
            ? "for (int i0 = 0; i0 < M; i0 += TM) for (int j0 = 0; j0 < N; j0 += TN)"
            : "for (int j0 = 0; j0 < N; j0 += TN) for (int i0 = 0; i0 < M; i0 += TM)"
        let epilogue: String
        switch act {
        case .none: epilogue = "v"
        case .relu: epilogue = "(v > 0.0f ? v : 0.0f)"
        case .gelu: epilogue = "0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)))"
        }
        let cArg = bias ? 3 : 2
        let src = """
        #include <math.h>
        #include <string.h>
        #define M \(M)
        #define N \(N)
        #define K \(K)
        #define TM \(tm)
        #define TN \(tn)
        #define TK \(tk)
        int tunefleet_kernel(float *const *args) {
            const float *restrict A = args[0];
            const float *restrict B = args[1];
            \(bias ? "const float *restrict bias = args[2];" : "")
            float *restrict C = args[\(cArg)];
            memset(C, 0, sizeof(float) * M * N);
            for (int k0 = 0; k0 < K; k0 += TK) {
                int k1 = k0 + TK < K ? k0 + TK : K;
                \(loops) {
                    int i1 = i0 + TM < M ? i0 + TM : M, j1 = j0 + TN < N ? j0 + TN : N;
                    for (int i = i0; i < i1; i++)
                        #pragma GCC unroll \(unroll)
                        for (int k = k0; k < k1; k++) {
                            float a = A[i * K + k];
                            for (int j = j0; j < j1; j++) C[i * N + j] += a * B[k * N + j];
                        }
                }
            }
            for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) {
                float v = C[i * N + j]\(bias ? " + bias[j]" : "");
                C[i * N + j] = \(epilogue);
            }
            \(faultCode)
            return 0;
        }
        """
        return GeneratedKernel(language: .c, source: src)
    }
}
