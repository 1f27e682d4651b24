using System;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>Tests that read process-wide counters, so nothing else may run beside them.</summary>
[CollectionDefinition(nameof(SerialTests), DisableParallelization = true)]
public sealed class SerialTests;

/// <summary>
/// Once warm, a Forward call allocates nothing: scratch and scheduler jobs are reused. "Warm" includes the runtime's
/// own first-call costs (tiered compilation replacing methods about 100 ms after their first calls, a thread-pool
/// thread's first work item), so the test calls in windows until one window is clean, and fails if none is. Clean
/// means nothing allocated on the calling thread; and where helper threads take part (more than one thread),
/// process-wide less than one smallest object (24 bytes) per call: the test host allocates a little in the background,
/// in bursts, but anything the kernel allocated per call would exceed that. A window is about 50 ms of calls (from 4 to
/// 50 calls), so that some window falls between the host's bursts even on the scalar path, where a call is slow. With
/// one thread a call runs on the calling thread alone (AttentionScheduler.ThreadCount), whose counter is then the whole
/// measure: the process-wide one would also count the host's background, which over the scalar path's long windows
/// (DOTNET_EnableHWIntrinsic=0) exceeded that allowance in every window of one CI run while the calling thread
/// allocated nothing.
/// </summary>
[Collection(nameof(SerialTests))]
public sealed class AllocationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Steady_state_calls_allocate_nothing(int threads)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(LlamaKernel));
        // 64 × 64 is large enough that two threads are used (AttentionScheduler.ThreadCount), small enough that a window
        // of calls is short on every instruction set.
        AttentionProblem problem = AttentionProblem.Create(kernel.Configuration, new Random(5), 1, 64, 64);
        var output = new float[problem.OutputLength];
        AssertSteadyStateAllocatesNothing(threads, () => LlamaKernel.Forward(problem.Query, problem.Key, problem.Value, output, 1, 64, 64));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Steady_state_calls_with_weights_or_log_sum_exp_allocate_nothing(int threads)
    {
        AttentionProblem problem = AttentionProblem.Create(DeclaredKernels.Get(nameof(LlamaKernel)).Configuration, new Random(5), 1, 64, 64);
        var output = new float[problem.OutputLength];
        var weights = new float[LlamaKernel.Heads * 64 * 64];
        var logSumExp = new float[LlamaKernel.Heads * 64];
        AssertSteadyStateAllocatesNothing(threads, () =>
        {
            LlamaKernel.Forward(problem.Query, problem.Key, problem.Value, output, 1, 64, 64, weights, AttentionWeights.Probabilities);
            LlamaKernel.Forward(problem.Query, problem.Key, problem.Value, output, 1, 64, 64, logSumExp);
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Steady_state_layer_calls_allocate_nothing(int threads)
    {
        var random = new Random(8);
        var layer = new PaddedLayer.Layer(
            Tensors.Normal(random, 40 * 64), Tensors.Normal(random, 64), Tensors.Normal(random, 40 * 32), Tensors.Normal(random, 32),
            Tensors.Normal(random, 40 * 24), Tensors.Normal(random, 24), Tensors.Normal(random, 48 * 24), Tensors.Normal(random, 24));
        float[] input = Tensors.Normal(random, 4 * 64 * 40);
        var output = new float[4 * 64 * 24];
        int[] valid = [64, 10, 0, 33];
        AssertSteadyStateAllocatesNothing(threads, () =>
        {
            layer.Forward(input, output, 4, 64, valid);
            layer.Forward(input, input, input, output, 4, 64, 64, valid);
        });
    }

    [Theory]
    [InlineData(1, KvCachePrecision.Single)]
    [InlineData(2, KvCachePrecision.Single)]
    [InlineData(2, KvCachePrecision.Half)]
    public void Steady_state_decoding_allocates_nothing(int threads, KvCachePrecision precision)
    {
        // One sequence of 2048 tokens and two key/value heads: with two threads the keys are split and the partial
        // states merged, which must not allocate either.
        KvCache cache = LlamaKernel.CreateCache(1, 2048, precision);
        CachedProblem.Fill(cache, new Random(6), new[] { 2048 });
        float[] query = Tensors.Normal(new Random(7), LlamaKernel.Heads * LlamaKernel.HeadDim);
        var output = new float[LlamaKernel.Heads * LlamaKernel.ValueDim];
        AssertSteadyStateAllocatesNothing(threads, () => LlamaKernel.Forward(query, cache, output, 1, 1));
    }

    private static void AssertSteadyStateAllocatesNothing(int threads, Action call)
    {
        int previous = AttentionRuntime.MaxDegreeOfParallelism;
        try
        {
            AttentionRuntime.MaxDegreeOfParallelism = threads;
            void Call() => call();

            // Windows of about 50 ms (at most 50 calls, at least 4): the host's background allocations come in bursts,
            // which a short window is likely to miss.
            Call();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            Call();
            double callSeconds = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            int calls = (int)Math.Clamp(0.05 / Math.Max(callSeconds, 1e-9), 4, 50);

            long lastThread = -1, lastProcess = -1;
            for (int window = 0; window < 30; window++)
            {
                long thread = GC.GetAllocatedBytesForCurrentThread();
                long process = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < calls; i++)
                {
                    Call();
                }

                lastThread = GC.GetAllocatedBytesForCurrentThread() - thread;
                lastProcess = GC.GetTotalAllocatedBytes(precise: true) - process;
                if (lastThread == 0 && (threads == 1 || lastProcess < 24 * calls))
                {
                    return;
                }

                System.Threading.Thread.Sleep(120);
            }

            Assert.Fail($"Every window of {calls} calls allocated; the last one {lastThread} bytes on the calling thread and {lastProcess} in the process.");
        }
        finally
        {
            AttentionRuntime.MaxDegreeOfParallelism = previous;
        }
    }
}
