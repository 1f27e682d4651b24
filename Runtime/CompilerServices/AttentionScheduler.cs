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
/// every item is finished, so no helper thread can touch the caller's memory afterwards. The object that carries a
/// call to the helpers is pooled: it goes back to the pool when the last helper that was queued for it has run, so a
/// helper that starts late never sees the next call's arguments, and a steady stream of calls allocates nothing.
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
            Job<TKernel> job = Job<TKernel>.Rent();
            job.Query = query;
            job.QueryLength = arguments.Query.Length;
            job.Key = key;
            job.KeyLength = arguments.Key.Length;
            job.Value = value;
            job.ValueLength = arguments.Value.Length;
            job.Output = output;
            job.OutputLength = arguments.Output.Length;
            job.KeyLengths = keyLengths;
            job.KeyLengthsLength = arguments.KeyLengths.Length;
            job.MaskAdditive = maskAdditive;
            job.MaskAdditiveLength = mask.AdditiveValues.Length;
            job.MaskAllowed = maskAllowed;
            job.MaskAllowedLength = mask.AllowedValues.Length;
            job.MaskIsBoolean = mask.IsBoolean;
            job.MaskBatch = mask.Batch;
            job.MaskHeads = mask.Heads;
            job.MaskQueryLength = mask.QueryLength;
            job.MaskKeyLength = mask.KeyLength;
            job.Batch = arguments.Batch;
            job.QueryRows = arguments.QueryLength;
            job.KeyRows = arguments.KeyLength;
            job.Start(workItems, helpers: threads - 1);

            for (int i = 1; i < threads; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(job, preferLocal: false);
            }

            job.Work();
            job.WaitForAllItemsAndRelease();
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

        private static readonly Job<TKernel>?[] s_pool = new Job<TKernel>?[4];

        private int _next;
        private int _finished;
        private int _references;
        private ExceptionDispatchInfo? _failure;

        /// <summary>A job from the pool, or a new one when every pooled job is still in use.</summary>
        public static Job<TKernel> Rent()
        {
            for (int i = 0; i < s_pool.Length; i++)
            {
                if (Interlocked.Exchange(ref s_pool[i], null) is { } job)
                {
                    return job;
                }
            }

            return new Job<TKernel>();
        }

        /// <summary>Arms the job for <paramref name="workItems"/> items, run by the caller and <paramref name="helpers"/> helpers.</summary>
        public void Start(int workItems, int helpers)
        {
            WorkItems = workItems;
            _finished = 0;
            _failure = null;
            _references = helpers + 1;
            Volatile.Write(ref _next, 0);
        }

        void IThreadPoolWorkItem.Execute()
        {
            Work();
            Release();
        }

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

        /// <summary>
        /// Blocks until every item has finished, gives up the caller's reference to the job, then rethrows the first
        /// failure, if any.
        /// </summary>
        public void WaitForAllItemsAndRelease()
        {
            var spinner = new SpinWait();
            while (Volatile.Read(ref _finished) < WorkItems)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            ExceptionDispatchInfo? failure = _failure;
            Release();
            failure?.Throw();
        }

        /// <summary>The last of the caller and the helpers to be done with the job returns it to the pool.</summary>
        private void Release()
        {
            if (Interlocked.Decrement(ref _references) != 0)
            {
                return;
            }

            Query = Key = Value = Output = MaskAdditive = null;
            KeyLengths = null;
            MaskAllowed = null;
            _failure = null;
            for (int i = 0; i < s_pool.Length; i++)
            {
                if (Interlocked.CompareExchange(ref s_pool[i], this, null) is null)
                {
                    return;
                }
            }
        }
    }
}
