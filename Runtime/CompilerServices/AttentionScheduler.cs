using System;
using System.ComponentModel;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Runs the work items of a generated kernel on up to <see cref="AttentionRuntime.MaxDegreeOfParallelism"/>
/// threads, the calling thread included. Used by generated code; not meant to be called directly.
/// </summary>
/// <remarks>
/// Work items are handed out one at a time from a shared counter, so threads that draw cheap items (early causal
/// rows) simply take more of them. The spans are pinned for the duration of the call; the call returns only when
/// every item is finished, so no helper thread can touch the caller's memory afterwards.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static unsafe class AttentionScheduler
{
    /// <summary>
    /// Below this many multiply-adds in one call, extra threads cost more than they save and the call runs on the
    /// calling thread alone.
    /// </summary>
    public const long MinimumWorkPerThread = 1L << 18;

    /// <summary>Runs items <c>[0, workItems)</c> of <typeparamref name="TKernel"/>.</summary>
    /// <param name="arguments">The validated arguments.</param>
    /// <param name="workItems">How many work items the call has.</param>
    /// <param name="workPerItem">An estimate of the multiply-adds in one item, used to size the thread count.</param>
    public static void Run<TKernel>(scoped in AttentionArguments arguments, int workItems, long workPerItem)
        where TKernel : IAttentionKernel
    {
        if (workItems <= 0)
        {
            return;
        }

        int threads = ThreadCount(workItems, workPerItem);
        if (threads <= 1)
        {
            TKernel.Execute(in arguments, 0, workItems);
            return;
        }

        ExplicitMask mask = arguments.Mask;
        fixed (float* query = arguments.Query)
        fixed (float* key = arguments.Key)
        fixed (float* value = arguments.Value)
        fixed (float* output = arguments.Output)
        fixed (int* keyLengths = arguments.KeyLengths)
        fixed (float* maskAdditive = mask.AdditiveValues)
        fixed (bool* maskAllowed = mask.AllowedValues)
        {
            var job = new Job<TKernel>
            {
                Query = query, QueryLength = arguments.Query.Length,
                Key = key, KeyLength = arguments.Key.Length,
                Value = value, ValueLength = arguments.Value.Length,
                Output = output, OutputLength = arguments.Output.Length,
                KeyLengths = keyLengths, KeyLengthsLength = arguments.KeyLengths.Length,
                MaskAdditive = maskAdditive, MaskAdditiveLength = mask.AdditiveValues.Length,
                MaskAllowed = maskAllowed, MaskAllowedLength = mask.AllowedValues.Length,
                MaskIsBoolean = mask.IsBoolean,
                MaskBatch = mask.Batch, MaskHeads = mask.Heads, MaskQueryLength = mask.QueryLength, MaskKeyLength = mask.KeyLength,
                Batch = arguments.Batch, QueryRows = arguments.QueryLength, KeyRows = arguments.KeyLength,
                WorkItems = workItems,
            };

            for (int i = 1; i < threads; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(job, preferLocal: false);
            }

            job.Work();
            job.WaitForAllItems();
        }
    }

    /// <summary>How many threads a call with the given work should use.</summary>
    public static int ThreadCount(int workItems, long workPerItem)
    {
        int threads = Math.Min(AttentionRuntime.MaxDegreeOfParallelism, workItems);
        if (threads <= 1)
        {
            return 1;
        }

        long total = (long)workItems * Math.Max(workPerItem, 1);
        long affordable = total / MinimumWorkPerThread;
        return (int)Math.Clamp(affordable, 1, threads);
    }

    private sealed class Job<TKernel> : IThreadPoolWorkItem
        where TKernel : IAttentionKernel
    {
        public float* Query, Key, Value, Output, MaskAdditive;
        public int* KeyLengths;
        public bool* MaskAllowed;
        public int QueryLength, KeyLength, ValueLength, OutputLength, KeyLengthsLength, MaskAdditiveLength, MaskAllowedLength;
        public bool MaskIsBoolean;
        public int MaskBatch, MaskHeads, MaskQueryLength, MaskKeyLength;
        public int Batch, QueryRows, KeyRows, WorkItems;

        private int _next;
        private int _finished;
        private ExceptionDispatchInfo? _failure;

        void IThreadPoolWorkItem.Execute() => Work();

        /// <summary>Takes items until none is left. Runs on the caller and on each helper.</summary>
        public void Work()
        {
            var arguments = new AttentionArguments(
                new ReadOnlySpan<float>(Query, QueryLength),
                new ReadOnlySpan<float>(Key, KeyLength),
                new ReadOnlySpan<float>(Value, ValueLength),
                new Span<float>(Output, OutputLength),
                Batch, QueryRows, KeyRows,
                new ReadOnlySpan<int>(KeyLengths, KeyLengthsLength),
                ExplicitMask.FromParts(
                    new ReadOnlySpan<float>(MaskAdditive, MaskAdditiveLength),
                    new ReadOnlySpan<bool>(MaskAllowed, MaskAllowedLength),
                    MaskIsBoolean, MaskBatch, MaskHeads, MaskQueryLength, MaskKeyLength));

            int item;
            while ((item = Interlocked.Increment(ref _next) - 1) < WorkItems)
            {
                try
                {
                    TKernel.Execute(in arguments, item, item + 1);
                }
                catch (Exception exception)
                {
                    Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(exception), null);
                }
                finally
                {
                    Interlocked.Increment(ref _finished);
                }
            }
        }

        /// <summary>Blocks until every item has finished, then rethrows the first failure, if any.</summary>
        public void WaitForAllItems()
        {
            var spinner = new SpinWait();
            while (Volatile.Read(ref _finished) < WorkItems)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            _failure?.Throw();
        }
    }
}
