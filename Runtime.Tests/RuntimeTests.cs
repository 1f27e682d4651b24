using System;
using System.Collections.Concurrent;
using System.Threading;
using AttentionGen.CompilerServices;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>The runtime's own pieces: configuration rules, the thread setting and the scheduler.</summary>
public sealed class RuntimeTests
{
    [Fact]
    public void Configuration_validation_applies_the_generator_rules()
    {
        var configuration = new AttentionConfiguration { Heads = 6, KvHeads = 4, HeadDim = 600, Mask = AttentionMask.Causal };
        ArgumentException exception = Assert.Throws<ArgumentException>(configuration.Validate);
        Assert.Contains("KvHeads is 4, which does not divide Heads = 6", exception.Message);
        Assert.Contains("HeadDim is 600", exception.Message);
        Assert.Contains("Mask Causal needs an Alignment", exception.Message);
        Assert.Equal("KvHeads", exception.ParamName);
    }

    [Fact]
    public void Configuration_resolves_defaults()
    {
        var configuration = new AttentionConfiguration { Heads = 4, HeadDim = 64 };
        Assert.Equal(4, configuration.KvHeads);
        Assert.Equal(64, configuration.ValueDim);
        Assert.Equal(0.125f, configuration.Scale);
        Assert.Equal(1, configuration.GroupSize);
        configuration.Validate();
    }

    [Fact]
    public void Reference_rejects_arguments_the_configuration_does_not_use()
    {
        var configuration = new AttentionConfiguration { Heads = 1, HeadDim = 4 };
        ArgumentException exception = Assert.Throws<ArgumentException>(() =>
            ReferenceAttention.Forward(configuration, new float[4], new float[4], new float[4], new float[4], 1, 1, 1, mask: ExplicitMask.Additive(new float[1], 1, 1)));
        Assert.Equal("mask", exception.ParamName);
    }

    [Fact]
    public void Max_degree_of_parallelism_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionRuntime.MaxDegreeOfParallelism = 0);
        Assert.True(AttentionRuntime.MaxDegreeOfParallelism >= 1);
    }

    [Fact]
    public void Small_calls_stay_on_one_thread_and_large_ones_spread()
    {
        int previous = AttentionRuntime.MaxDegreeOfParallelism;
        try
        {
            AttentionRuntime.MaxDegreeOfParallelism = 2;
            Assert.Equal(1, AttentionScheduler.ThreadCount(workItems: 4, workPerItem: 100));
            Assert.Equal(1, AttentionScheduler.ThreadCount(workItems: 1, workPerItem: long.MaxValue / 2));
            Assert.Equal(2, AttentionScheduler.ThreadCount(workItems: 64, workPerItem: 1 << 20));
            AttentionRuntime.MaxDegreeOfParallelism = 1;
            Assert.Equal(1, AttentionScheduler.ThreadCount(workItems: 64, workPerItem: 1 << 20));
        }
        finally
        {
            AttentionRuntime.MaxDegreeOfParallelism = previous;
        }
    }

    /// <summary>
    /// 1 batch entry of 2 key/value heads: one head's worth of items per thread on two threads, taken one at a time. 8
    /// entries: 16 heads' worth, 8 per thread, so the threads take whole heads but the last two, whose items go one at a
    /// time (KernelTiles.GroupsPerThread, AttentionScheduler.WholeGroupItems); 100 queries end in a partial block.
    /// </summary>
    [Theory]
    [InlineData("threads", 1, 96, 160)]
    [InlineData("whole heads", 8, 100, 140)]
    public void Results_do_not_depend_on_the_thread_count(string seed, int batch, int queryLength, int keyLength)
    {
        // Each row is computed by one thread with the same arithmetic, so the results are bitwise identical.
        Assert.Equal(2, KernelTiles.GroupsPerThread);
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(LlamaKernel));
        AttentionProblem problem = AttentionProblem.Create(kernel.Configuration, new Random(TestSeed.For(seed)), batch, queryLength, keyLength);
        int previous = AttentionRuntime.MaxDegreeOfParallelism;
        try
        {
            AttentionRuntime.MaxDegreeOfParallelism = 1;
            float[] single = problem.Run(kernel);
            AttentionRuntime.MaxDegreeOfParallelism = 2;
            float[] parallel = problem.Run(kernel);
            Assert.Equal(single, parallel);
        }
        finally
        {
            AttentionRuntime.MaxDegreeOfParallelism = previous;
        }
    }

    [Theory]
    [InlineData(64, 4, 2, 56)]   // 16 heads, 8 per thread: all but the last 2 heads whole
    [InlineData(64, 4, 3, 52)]   // 16 heads on 3 threads: all but the last 3
    [InlineData(16, 4, 2, 8)]    // 4 heads, 2 per thread: the first 2 whole
    [InlineData(12, 4, 2, 0)]    // 3 heads: fewer than 2 per thread, every item alone
    [InlineData(64, 1, 2, 0)]    // items that share no head
    public void Threads_take_whole_heads_but_the_last_ones(int workItems, int itemsPerGroup, int threads, int expected)
    {
        Assert.Equal(expected, AttentionScheduler.WholeGroupItems(workItems, itemsPerGroup, threads));
    }

    [Fact]
    public void Concurrent_calls_from_several_threads_are_all_correct()
    {
        // One call at a time gets the helper threads; the others run on their own threads. All must be right.
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(LlamaKernel));
        AttentionProblem[] problems = new AttentionProblem[6];
        float[][] expected = new float[problems.Length][];
        for (int i = 0; i < problems.Length; i++)
        {
            problems[i] = AttentionProblem.Create(kernel.Configuration, new Random(100 + i), 1, 80, 80);
            expected[i] = problems[i].Run(kernel);
        }

        int previous = AttentionRuntime.MaxDegreeOfParallelism;
        try
        {
            AttentionRuntime.MaxDegreeOfParallelism = 2;
            System.Threading.Tasks.Parallel.For(0, problems.Length * 4, new System.Threading.Tasks.ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            {
                float[] actual = problems[i % problems.Length].Run(kernel);
                Assert.Equal(expected[i % problems.Length], actual);
            });
        }
        finally
        {
            AttentionRuntime.MaxDegreeOfParallelism = previous;
        }
    }

    [Fact]
    public void A_parallel_call_is_correct_while_the_GC_compacts_the_heap()
    {
        // The helper threads read the caller's spans where they are, unpinned: a compacting collection during the call
        // moves the arrays, and every thread must still see them (the GC updates the caller's frame and each helper's).
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(LlamaKernel));
        AttentionProblem problem = AttentionProblem.Create(kernel.Configuration, new Random(7), 2, 96, 96);
        float[] expected = problem.Run(kernel);
        int previous = AttentionRuntime.MaxDegreeOfParallelism;
        using var stop = new System.Threading.CancellationTokenSource();
        var collector = new System.Threading.Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                _ = new byte[1 << 16];
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                System.Threading.Thread.Sleep(1);
            }
        });
        try
        {
            AttentionRuntime.MaxDegreeOfParallelism = 2;
            collector.Start();
            for (int i = 0; i < 20; i++)
            {
                _ = new byte[1 << 12]; // garbage ahead of the next call's arrays, so that compaction moves them
                Assert.Equal(expected, problem.Run(kernel));
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
            AttentionRuntime.MaxDegreeOfParallelism = previous;
        }
    }

    [Fact]
    public void The_scheduler_runs_every_item_exactly_once_and_rethrows_the_first_failure()
    {
        int previous = AttentionRuntime.MaxDegreeOfParallelism;
        try
        {
            AttentionRuntime.MaxDegreeOfParallelism = 4;
            RecordingKernel.Reset(failOn: -1);
            var arguments = new AttentionArguments(new float[8], default, default, new float[8], 1, 1, 1, default, default);
            AttentionScheduler.Run<RecordingKernel, AttentionArguments>(in arguments, 500, 1 << 20);
            Assert.Equal(500, RecordingKernel.Items.Count);
            Assert.All(RecordingKernel.Items.Values, count => Assert.Equal(1, count));

            RecordingKernel.Reset(failOn: 123);
            InvalidOperationException exception = Assert.Throws<InvalidOperationException>(() =>
            {
                var failing = new AttentionArguments(new float[8], default, default, new float[8], 1, 1, 1, default, default);
                AttentionScheduler.Run<RecordingKernel, AttentionArguments>(in failing, 500, 1 << 20);
            });
            Assert.Equal("item 123", exception.Message);
            Assert.True(RecordingKernel.Items.ContainsKey(123));
            Assert.All(RecordingKernel.Items.Values, count => Assert.Equal(1, count));
        }
        finally
        {
            AttentionRuntime.MaxDegreeOfParallelism = previous;
        }
    }

    private readonly struct RecordingKernel : IWorkItems<AttentionArguments>
    {
        private static int s_failOn;

        public static ConcurrentDictionary<int, int> Items { get; private set; } = new();

        public static void Reset(int failOn)
        {
            Items = new ConcurrentDictionary<int, int>();
            Volatile.Write(ref s_failOn, failOn);
        }

        public static void Execute(scoped in AttentionArguments arguments, int start, int end)
        {
            for (int item = start; item < end; item++)
            {
                Assert.Equal(8, arguments.Query.Length);
                Items.AddOrUpdate(item, 1, (_, count) => count + 1);
                if (item == Volatile.Read(ref s_failOn))
                {
                    throw new InvalidOperationException("item " + item);
                }
            }
        }
    }
}
