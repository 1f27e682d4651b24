using System;
using System.Diagnostics;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Runs the work items of a generated kernel on up to <see cref="AttentionRuntime.MaxDegreeOfParallelism"/>
/// threads, the calling thread included. Used by generated code; not meant to be called directly.
/// </summary>
/// <remarks>
/// <para>
/// Work items are handed out from a shared counter, so threads that draw cheap items (early causal rows) simply take
/// more of them: a key/value head's items at once while many heads are left, so that one thread reads each head's keys
/// and values, then one at a time, so that the threads finish together (<see cref="WholeGroupItems"/>). The helpers
/// read the caller's arguments in place, for the duration of the call.
/// </para>
/// <para>
/// The helpers are dedicated background threads, started once and kept. A call hands them its job, works on it
/// itself, and returns only when every helper has checked out of it, so no helper can touch the caller's memory
/// afterwards and the job object can serve the caller's next call: after the first call nothing is allocated. One
/// call uses the helpers at a time; a call that finds them busy (another thread's call) runs on its own thread.
/// </para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static unsafe class AttentionScheduler
{
    /// <summary>
    /// Below this many multiply-adds in one call, extra threads cost more than they save and the call runs on the
    /// calling thread alone.
    /// </summary>
    public const long MinimumWorkPerThread = 1L << 18;

    /// <summary>Runs a <c>Forward</c> call over tensors: its query blocks of each (batch entry, head).</summary>
    /// <param name="arguments">The validated arguments.</param>
    public static void Run<TKernel>(scoped in AttentionArguments arguments)
        where TKernel : struct, IAttentionKernel
    {
        // The row blocks take key and value elements from their addresses (ISimd.ScalarFrom), so the key and value
        // tensors stay pinned for the whole call, whichever threads read them.
        fixed (float* keys = arguments.Key, values = arguments.Value)
        {
            Run<AttentionWork<TKernel>, AttentionArguments>(
                in arguments, AttentionWork<TKernel>.ItemCount(arguments.Batch, arguments.QueryLength), AttentionWork<TKernel>.WorkPerItem(arguments.KeyLength),
                AttentionWork<TKernel>.ItemsPerKeyValueHead(arguments.QueryLength));
        }
    }

    /// <summary>Runs items <c>[0, workItems)</c> of <typeparamref name="TWork"/>.</summary>
    /// <param name="arguments">The validated arguments.</param>
    /// <param name="workItems">How many work items the call has.</param>
    /// <param name="workPerItem">An estimate of the multiply-adds in one item, used to size the thread count.</param>
    /// <param name="itemsPerGroup">
    /// Consecutive items that read the same keys and values (those of one key/value head), or 1: threads take whole groups
    /// while enough are left (<see cref="WholeGroupItems"/>).
    /// </param>
    internal static void Run<TWork, TArguments>(scoped in TArguments arguments, int workItems, long workPerItem, int itemsPerGroup = 1)
        where TWork : struct, IWorkItems<TArguments>
        where TArguments : allows ref struct
    {
        if (workItems <= 0)
        {
            return;
        }

        int threads = ThreadCount(workItems, workPerItem);
        if (threads <= 1 || !Workers.TryAcquire(threads - 1, out Worker[] helpers))
        {
            TWork.Execute(in arguments, 0, workItems);
            return;
        }

        int wholeGroupItems = WholeGroupItems(workItems, itemsPerGroup, threads);

        try
        {
            // The helpers read the caller's arguments where they are. An AttentionArguments is a ref struct, so it lives
            // on a stack and never moves, and this call returns only after every helper has checked out of the job. The
            // spans in it stay reported to the GC by the caller's frame, and each helper's copy by the helper's, so the
            // memory they point into needs no pinning to be read through them (Run<TKernel> pins keys and values for
            // another reason, the broadcasts from their addresses): one struct carries every argument to every thread.
            Job<TWork, TArguments> job = Job<TWork, TArguments>.ForThisThread;
            job.Arguments = Unsafe.AsPointer(ref Unsafe.AsRef(in arguments));
            job.Start(workItems, itemsPerGroup, wholeGroupItems, threads - 1);
            for (int i = 0; i < threads - 1; i++)
            {
                helpers[i].Begin(job);
            }

            job.Work();
            job.WaitForHelpers();
            job.Clear();
            job.ThrowIfFailed();
        }
        finally
        {
            Workers.Release();
        }
    }

    /// <summary>
    /// Runs a <c>Forward</c> call over a <see cref="KvCache"/>. A prefill runs on the row-block kernels, as an ordinary
    /// Forward does (see <see cref="UsesRowBlocks"/>). Otherwise the work items are those of <typeparamref name="TKernel"/>'s
    /// cached path, each one chunk of the rows that read a (batch entry, key/value head) against one split of its keys.
    /// When there are too few (batch entry, key/value head) pairs to keep every thread busy, as when decoding one sequence,
    /// the keys are split further (split-KV, or "flash decoding"); each split leaves partial softmax states that are
    /// merged exactly here once all splits are done.
    /// </summary>
    /// <param name="arguments">The validated arguments, with <see cref="AttentionArguments.Cache"/> set.</param>
    /// <exception cref="InvalidOperationException">Another thread appended to or cleared the cache during the call.</exception>
    public static void RunCached<TKernel>(scoped in AttentionArguments arguments)
        where TKernel : struct, IAttentionKernel
    {
        // A KvCache may be read by several threads at once but not written while it is read. Appending or clearing
        // during the call is a race in the caller's code; it is caught here, by the version every write bumps, and named.
        KvCache cache = arguments.Cache!;
        long version = cache.Version;
        try
        {
            RunCachedCore<TKernel>(in arguments);
        }
        catch (Exception exception) when (cache.WrittenSince(version))
        {
            throw KvCache.ConcurrentWrite(exception);
        }

        if (cache.WrittenSince(version))
        {
            throw KvCache.ConcurrentWrite(null);
        }
    }

    private static void RunCachedCore<TKernel>(scoped in AttentionArguments arguments)
        where TKernel : struct, IAttentionKernel
    {
        int heads = TKernel.Heads, kvHeads = TKernel.KvHeads, valueDim = TKernel.ValueDim;
        const int rowsPerItem = KernelTiles.CachedRowsPerItem;
        KvCache cache = arguments.Cache!;
        int batch = arguments.Batch, queryLength = arguments.QueryLength;
        int groupSize = AttentionWork<TKernel>.GroupSize;
        int rowsPerHead = groupSize * queryLength;
        if (batch == 0 || rowsPerHead == 0)
        {
            return;
        }

        int longest = cache.Length;
        if (UsesRowBlocks(queryLength, KernelTiles.RowsPerItem))
        {
            // A prefill: the items of an ordinary Forward, query blocks of one head each, on the row-block kernels.
            // AttentionWork makes the same decision from the same call.
            Run<AttentionWork<TKernel>, AttentionArguments>(
                in arguments, AttentionWork<TKernel>.ItemCount(batch, queryLength), AttentionWork<TKernel>.WorkPerItem(longest),
                AttentionWork<TKernel>.ItemsPerKeyValueHead(queryLength));
            return;
        }

        int chunks = (rowsPerHead + rowsPerItem - 1) / rowsPerItem;
        int items = batch * kvHeads * chunks;
        long workPerItem = (long)Math.Min(rowsPerItem, rowsPerHead) * longest * (TKernel.HeadDim + valueDim);
        int splits = SplitCount(items, workPerItem, longest);
        if (splits == 1)
        {
            Run<AttentionWork<TKernel>, AttentionArguments>(in arguments, items, workPerItem);
            return;
        }

        int stateSize = OnlineSoftmax.StateSize(valueDim);
        Span<float> partials = KernelScratch.GetForCall(batch * kvHeads * rowsPerHead * splits * stateSize);
        var split = new AttentionArguments(in arguments, partials, splits);
        Run<AttentionWork<TKernel>, AttentionArguments>(in split, items * splits, workPerItem / splits);

        Span<float> output = arguments.Output;
        int rowPartials = splits * stateSize;
        for (int b = 0; b < batch; b++)
        {
            for (int kvHead = 0; kvHead < kvHeads; kvHead++)
            {
                for (int row = 0; row < rowsPerHead; row++)
                {
                    int head = kvHead * groupSize + row / queryLength, i = row % queryLength;
                    int outputRow = (int)AttentionWork<TKernel>.RowIndex(b, head, i, queryLength);
                    int index = (b * kvHeads + kvHead) * rowsPerHead + row;
                    OnlineSoftmax.Merge(partials.Slice(index * rowPartials, rowPartials), splits, valueDim, output.Slice(outputRow * valueDim, valueDim));
                }
            }
        }
    }

    /// <summary>
    /// Whether a cached call runs on the row-block kernels: when it has enough query rows per head to fill half a work
    /// item, as a prefill or a long speculative step does. Over a Single cache whose tokens lie in consecutive slots the
    /// kernels read the cache in place; over a Half cache or a wrapped ring, a per-thread staged copy of each head
    /// (<see cref="KvCacheAccess.Stage"/>).
    /// </summary>
    /// <param name="queryLength">The call's query rows per batch entry and head.</param>
    /// <param name="rowsPerBlock">The query rows of one head in a work item of the kernel's row-block path.</param>
    public static bool UsesRowBlocks(int queryLength, int rowsPerBlock) => queryLength >= rowsPerBlock / 2;

    /// <summary>Keys below which a split of a cached call is not worth its partial state.</summary>
    public const int MinimumKeysPerSplit = 256;

    /// <summary>
    /// Into how many splits a cached call cuts each (batch entry, key/value head)'s keys: 1 when its items already give
    /// every thread four or more to take from, else enough splits for that, each at least <see cref="MinimumKeysPerSplit"/> keys.
    /// </summary>
    internal static int SplitCount(int items, long workPerItem, int longest)
    {
        // The threads the call's total work can pay for, as if it were cut as finely as it may be.
        int mostSplits = Math.Max(1, longest / MinimumKeysPerSplit);
        int threads = ThreadCount(items * mostSplits, workPerItem / mostSplits);
        int target = 4 * threads;
        if (threads <= 1 || items >= target)
        {
            return 1;
        }

        return Math.Min((target + items - 1) / items, mostSplits);
    }

    /// <summary>
    /// How many of a call's first items the threads take a group at a time (a key/value head's items, consecutive), so that
    /// one thread rather than each brings that head's keys and values into its cache, and copies them where it does. The
    /// last <paramref name="threads"/> groups' items go one at a time, so that a thread that finishes early takes a share
    /// of the last heads rather than waiting for a whole one; so do every call's items when it has fewer than
    /// <see cref="KernelTiles.GroupsPerThread"/> groups per thread. On Zen 5, a Stopwatch probe alternating in one process
    /// with the items all handed out one at a time ran 8 heads of 64 or 128 over 128 to 2048 tokens 1–8% faster on two
    /// threads; BenchmarkDotNet runs of the two builds could not separate them from that machine's noise
    /// (docs/PERFORMANCE.md).
    /// </summary>
    /// <param name="workItems">The call's items.</param>
    /// <param name="itemsPerGroup">Consecutive items that read one key/value head, or 1.</param>
    /// <param name="threads">The threads working on the call.</param>
    internal static int WholeGroupItems(int workItems, int itemsPerGroup, int threads)
    {
        int groups = workItems / Math.Max(itemsPerGroup, 1);
        return itemsPerGroup > 1 && groups >= (long)KernelTiles.GroupsPerThread * threads ? (groups - threads) * itemsPerGroup : 0;
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

    /// <summary>A job the helper threads can work on.</summary>
    private abstract class ParallelJob
    {
        private int _helpersLeft;
        private ExceptionDispatchInfo? _failure;

        /// <summary>Takes items until none is left.</summary>
        public abstract void Work();

        /// <summary>Runs <see cref="Work"/> on a helper, keeps the first failure, and checks the helper out.</summary>
        public void WorkAsHelper()
        {
            try
            {
                Work();
            }
            catch (Exception exception)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(exception), null);
            }
            finally
            {
                Interlocked.Decrement(ref _helpersLeft);
            }
        }

        protected void StartHelpers(int helpers)
        {
            _failure = null;
            Volatile.Write(ref _helpersLeft, helpers);
        }

        protected void Fail(Exception exception) => Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(exception), null);

        /// <summary>Blocks until every helper has checked out of the job (so all items are done).</summary>
        public void WaitForHelpers()
        {
            var spinner = new SpinWait();
            while (Volatile.Read(ref _helpersLeft) > 0)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
        }

        public void ThrowIfFailed() => _failure?.Throw();
    }

    private sealed class Job<TWork, TArguments> : ParallelJob
        where TWork : struct, IWorkItems<TArguments>
        where TArguments : allows ref struct
    {
        [ThreadStatic]
        private static Job<TWork, TArguments>? t_job;

        /// <summary>The caller's arguments, on its stack, for the duration of the call.</summary>
        public void* Arguments;

        private int _next;
        private int _workItems;
        private int _itemsPerGroup;
        private int _wholeGroupItems;

        /// <summary>
        /// The calling thread's job for this kernel, created on its first parallel call. Reusing it is safe because a
        /// call returns only after every helper has checked out of it.
        /// </summary>
        public static Job<TWork, TArguments> ForThisThread => t_job ??= new Job<TWork, TArguments>();

        /// <summary>
        /// Hands out items [0, <paramref name="workItems"/>): <paramref name="itemsPerGroup"/> at a time below
        /// <paramref name="wholeGroupItems"/>, then one at a time.
        /// </summary>
        public void Start(int workItems, int itemsPerGroup, int wholeGroupItems, int helpers)
        {
            _workItems = workItems;
            _itemsPerGroup = itemsPerGroup;
            _wholeGroupItems = wholeGroupItems;
            _next = 0;
            StartHelpers(helpers);
        }

        public override void Work()
        {
            ref TArguments arguments = ref Unsafe.AsRef<TArguments>(Arguments);
            while (true)
            {
                // A thread that read the counter below the boundary may take a whole group that starts at or past it, while
                // others take single items: every item is still taken exactly once.
                int chunk = Volatile.Read(ref _next) < _wholeGroupItems ? _itemsPerGroup : 1;
                int first = Interlocked.Add(ref _next, chunk) - chunk;
                if (first >= _workItems)
                {
                    break;
                }

                try
                {
                    TWork.Execute(in arguments, first, Math.Min(first + chunk, _workItems));
                }
                catch (Exception exception)
                {
                    // Stop handing out items, as a call on one thread stops at its first exception.
                    Fail(exception);
                    Volatile.Write(ref _next, _workItems);
                }
            }
        }

        /// <summary>Forgets the caller's arguments, which are gone once the call returns.</summary>
        public void Clear() => Arguments = null;
    }

    /// <summary>The shared helper threads, handed to one call at a time.</summary>
    private static class Workers
    {
        private static readonly object s_gate = new();
        private static Worker[] s_workers = Array.Empty<Worker>();
        private static int s_busy;

        /// <summary>Takes at least <paramref name="count"/> helpers for the calling thread, starting more if needed; false when another call has them.</summary>
        public static bool TryAcquire(int count, out Worker[] workers)
        {
            if (Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
            {
                workers = Array.Empty<Worker>();
                return false;
            }

            workers = s_workers;
            if (workers.Length < count)
            {
                lock (s_gate)
                {
                    var grown = new Worker[count];
                    Array.Copy(s_workers, grown, s_workers.Length);
                    for (int i = s_workers.Length; i < count; i++)
                    {
                        grown[i] = new Worker(i);
                    }

                    s_workers = workers = grown;
                }
            }

            return true;
        }

        public static void Release() => Volatile.Write(ref s_busy, 0);
    }

    /// <summary>One helper thread: waits for a job, works on it, checks out, waits again.</summary>
    private sealed class Worker
    {
        /// <summary>How long a helper that has finished a job watches for the next one before it blocks: 100 µs.</summary>
        private static readonly long s_spinTicks = Stopwatch.Frequency / 10_000;

        private readonly ManualResetEventSlim _ready = new(initialState: false, spinCount: 200);
        private ParallelJob? _job;

        public Worker(int index)
        {
            var thread = new Thread(Loop, maxStackSize: 1 << 20)
            {
                IsBackground = true,
                Name = "AttentionGen worker " + (index + 1),
            };
            thread.Start();
        }

        public void Begin(ParallelJob job)
        {
            Volatile.Write(ref _job, job);
            _ready.Set();
        }

        private void Loop()
        {
            while (true)
            {
                // Calls often come back to back (the layers of a model, a decoding loop), and waking a blocked thread
                // costs tens of microseconds in a virtual machine, more than a small call's whole share of work: so a
                // helper watches for the next job for a while before it blocks. Begin writes the job, then sets the
                // event, so once the job is seen the event is set or about to be, and the wait returns at once.
                SpinForJob();
                _ready.Wait();
                _ready.Reset();
                ParallelJob job = Volatile.Read(ref _job)!;
                _job = null;
                job.WorkAsHelper();
            }
        }

        /// <summary>Returns once a job has begun, or after <see cref="s_spinTicks"/> without one.</summary>
        private void SpinForJob()
        {
            long deadline = Stopwatch.GetTimestamp() + s_spinTicks;
            while (Volatile.Read(ref _job) is null && Stopwatch.GetTimestamp() < deadline)
            {
                Thread.SpinWait(16);
            }
        }
    }
}
