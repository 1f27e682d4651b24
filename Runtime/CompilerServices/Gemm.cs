using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading;

namespace AttentionGen.CompilerServices;

/// <summary>
/// The arguments of one <see cref="Linear.Apply(ReadOnlySpan{float}, Span{float}, int, ReadOnlySpan{int})"/> call, as
/// its work items read them on every thread.
/// </summary>
internal readonly ref struct GemmArguments
{
    public GemmArguments(
        Linear weights, ReadOnlySpan<float> input, Span<float> output, int rows, ReadOnlySpan<int> rowIndices, int columnGroups,
        int firstPanel, int endPanel, bool onePart)
    {
        Weights = weights;
        (FirstPanel, EndPanel) = (firstPanel, endPanel);
        OutputBase = onePart ? weights.PartOffset(firstPanel, rows) - weights.PanelColumnOffset(firstPanel) : 0;
        Input = input;
        Output = output;
        Rows = rows;
        RowIndices = rowIndices;
        ComputedRows = rowIndices.IsEmpty ? rows : rowIndices.Length;
        ColumnGroups = columnGroups;
        CallId = Interlocked.Increment(ref s_calls);
    }

    private static long s_calls;

    /// <summary>This call's number among all calls, which tells a thread's packed rows of an earlier call apart.</summary>
    public long CallId { get; }

    public Linear Weights { get; }

    /// <summary>The input, [Rows, Inputs].</summary>
    public ReadOnlySpan<float> Input { get; }

    /// <summary>The output: each part's [Rows, part's outputs] block, one after another.</summary>
    public Span<float> Output { get; }

    /// <summary>The rows of the input and output tensors.</summary>
    public int Rows { get; }

    /// <summary>The rows to compute, ascending; empty for all of them.</summary>
    public ReadOnlySpan<int> RowIndices { get; }

    /// <summary>How many rows are computed.</summary>
    public int ComputedRows { get; }

    /// <summary>Into how many groups of panels the columns are cut, each group one work item per chunk of rows.</summary>
    public int ColumnGroups { get; }

    /// <summary>The panels computed: all of them, or one part's.</summary>
    public int FirstPanel { get; }

    public int EndPanel { get; }

    /// <summary>Where <see cref="Output"/> starts among the outputs of the whole layer: 0, or the computed part's block.</summary>
    public nint OutputBase { get; }

    /// <summary>The tensor row of computed row <paramref name="i"/>.</summary>
    public int RowAt(int i) => RowIndices.IsEmpty ? i : RowIndices[i];
}

/// <summary>
/// The matrix product behind <see cref="Linear"/>, written once for every width. The weights are packed once into
/// panels of two vectors' worth of columns ([panel][input][column], zero-padded), so a register block reads each
/// step's weights as two consecutive vector loads. A work item is one chunk of rows against one group of panels: it
/// copies its rows into [input][row] order, the broadcasts of one step then being consecutive floats (a thread does so
/// once per chunk in a call, whatever the number of its groups it takes), and multiplies them by each panel of its
/// group in register blocks of 12 rows (32 vector registers: 24 accumulators, two weight vectors, one broadcast) or 6
/// rows (16 registers: 12, 2, 1), the shape of the classic AVX2 GEMM micro-kernel; a chunk of at most 4 rows, as a short
/// sentence alone has, is one block of 4 rows only, since its weights are then read from memory for little arithmetic.
/// </summary>
internal readonly struct Gemm : IWorkItems<GemmArguments>
{
    /// <summary>Rows of one work item: four register blocks of 12, or eight of 6.</summary>
    internal const int ChunkRows = 48;

    /// <summary>
    /// The rows of the register block that a block of few rows runs (<see cref="Block"/> with Count4): whatever the row
    /// count up to this, the block computes this many, so the work of a call counts at least this many rows a chunk.
    /// </summary>
    private const int SmallBlockRows = 4;

    /// <summary>The call and the chunk of rows whose packing this thread's scratch holds.</summary>
    [ThreadStatic]
    private static long t_packedCall;

    [ThreadStatic]
    private static int t_packedChunk;

    /// <summary>The vector path the weights are packed for, the widest accelerated one.</summary>
    internal static readonly int PanelWidth =
        Vector512.IsHardwareAccelerated ? 2 * Vector512<float>.Count :
        Vector256.IsHardwareAccelerated ? 2 * Vector256<float>.Count :
        Vector128.IsHardwareAccelerated ? 2 * Vector128<float>.Count : 8;

    /// <summary>Runs a validated call, on as many threads as its size pays for.</summary>
    /// <param name="weights">The layer.</param>
    /// <param name="input">The input rows, [rows, Inputs].</param>
    /// <param name="output">The output rows: the whole layer's, or the one part's.</param>
    /// <param name="rows">The rows of the tensors.</param>
    /// <param name="rowIndices">The rows to compute, ascending; empty for all.</param>
    /// <param name="part">The part to compute, alone, into an output of its own size; -1 for the whole layer.</param>
    internal static void Run(Linear weights, ReadOnlySpan<float> input, Span<float> output, int rows, ReadOnlySpan<int> rowIndices, int part = -1)
    {
        int computed = rowIndices.IsEmpty ? rows : rowIndices.Length;
        if (computed == 0)
        {
            return;
        }

        // Enough items for every thread to take several, cutting the columns when there are too few rows for that.
        (int firstPanel, int endPanel) = part < 0 ? (0, weights.Panels) : weights.PartPanels(part);
        int panels = endPanel - firstPanel;
        int chunks = (computed + ChunkRows - 1) / ChunkRows;
        // The block of few rows computes 4 whatever their number, and reads all the weights for them: W_o of a 3-token
        // sentence (384 × 384) is worth two threads, which counting 3 rows had not given it.
        int chunkRows = Math.Clamp(computed, SmallBlockRows, ChunkRows);
        int threads = AttentionScheduler.ThreadCount(chunks * panels, (long)chunkRows * weights.Inputs * PanelWidth);
        int groups = threads <= 1 ? 1 : Math.Clamp((4 * threads + chunks - 1) / chunks, 1, panels);
        var arguments = new GemmArguments(weights, input, output, rows, rowIndices, groups, firstPanel, endPanel, onePart: part >= 0);
        long workPerItem = (long)chunkRows * weights.Inputs * panels * PanelWidth / groups;
        AttentionScheduler.Run<Gemm, GemmArguments>(in arguments, chunks * groups, workPerItem);
    }

    public static void Execute(scoped in GemmArguments arguments, int start, int end)
    {
        for (int item = start; item < end; item++)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Item<Simd512, Vector512<float>>(in arguments, item);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                Item<Simd256, Vector256<float>>(in arguments, item);
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                Item<Simd128, Vector128<float>>(in arguments, item);
            }
            else
            {
                ScalarItem(in arguments, item);
            }
        }
    }

    /// <summary>One chunk of rows against one group of panels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Item<TSimd, TVector>(scoped in GemmArguments arguments, int item)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        Linear weights = arguments.Weights;
        int inputs = weights.Inputs;
        (int chunk, int group) = Math.DivRem(item, arguments.ColumnGroups);
        int firstRow = chunk * ChunkRows;
        int rowCount = Math.Min(ChunkRows, arguments.ComputedRows - firstRow);

        // A chunk of at most 4 rows (a short sentence alone, a decoded token) is one block of 4, packed 4 rows wide:
        // packing and zeroing a whole block of 12 (or 6) rows for it had been a fifth of the time of one 3-token sentence
        // through the MiniLM encoder.
        int blockRows = rowCount <= SmallBlockRows ? SmallBlockRows : TSimd.HasWideRegisterFile ? 12 : 6;
        int blocks = (rowCount + blockRows - 1) / blockRows;
        (int firstPanel, int endPanel) = Share(arguments.FirstPanel, arguments.EndPanel, arguments.ColumnGroups, group);

        // The chunk's rows in [block][input][row] order, the rows past its last one zero. A thread that takes several of
        // a chunk's items (its groups of panels) packs the rows once: its scratch still holds them from the last item,
        // as nothing but this call's items runs on the thread meanwhile.
        Span<float> packed = KernelScratch.Get(blocks * blockRows * inputs);
        Span<int> offsets = stackalloc int[ChunkRows];
        Span<float> sums = stackalloc float[12 * 2 * TSimd.Count];
        ref float tile = ref MemoryMarshal.GetReference(sums);
        for (int i = 0; i < rowCount; i++)
        {
            offsets[i] = arguments.RowAt(firstRow + i);
        }

        if (t_packedCall != arguments.CallId || t_packedChunk != chunk)
        {
            ref float input = ref MemoryMarshal.GetReference(arguments.Input);
            for (int block = 0; block < blocks; block++)
            {
                ref float destination = ref packed[block * blockRows * inputs];
                for (int r = 0; r < blockRows; r++)
                {
                    int i = block * blockRows + r;
                    if (i < rowCount)
                    {
                        KernelMath.CopyColumn(ref Unsafe.Add(ref input, (nint)offsets[i] * inputs), inputs, ref Unsafe.Add(ref destination, r), blockRows);
                    }
                    else
                    {
                        KernelMath.ClearColumn(inputs, ref Unsafe.Add(ref destination, r), blockRows);
                    }
                }
            }

            (t_packedCall, t_packedChunk) = (arguments.CallId, chunk);
        }

        ref float output = ref MemoryMarshal.GetReference(arguments.Output);
        for (int panel = firstPanel; panel < endPanel; panel++)
        {
            ref float panelWeights = ref weights.PanelWeights(panel);
            ref float bias = ref weights.PanelBias(panel);
            ref float partOutput = ref Unsafe.Add(ref output, weights.PartOffset(panel, arguments.Rows) - arguments.OutputBase);
            int partStride = weights.PartStride(panel);
            int width = weights.PanelColumns(panel);
            for (int block = 0; block < blocks; block++)
            {
                ref float a = ref packed[block * blockRows * inputs];
                int first = block * blockRows;
                int count = Math.Min(blockRows, rowCount - first);
                if (count <= SmallBlockRows)
                {
                    // Few rows (a batch of one short sentence) read the weights once for little arithmetic: a block of
                    // only the rows that exist keeps that arithmetic below the memory's pace.
                    Block<TSimd, TVector, Count4>(ref a, blockRows, ref panelWeights, inputs, ref tile);
                }
                else if (TSimd.HasWideRegisterFile)
                {
                    Block<TSimd, TVector, Count12>(ref a, blockRows, ref panelWeights, inputs, ref tile);
                }
                else
                {
                    Block<TSimd, TVector, Count6>(ref a, blockRows, ref panelWeights, inputs, ref tile);
                }

                StoreBlock<TSimd, TVector>(ref tile, ref bias, offsets.Slice(first, count), ref partOutput, partStride, width);
            }
        }
    }

    /// <summary>Group <paramref name="group"/>'s share of panels [<paramref name="first"/>, <paramref name="end"/>) cut <paramref name="groups"/> ways.</summary>
    private static (int First, int End) Share(int first, int end, int groups, int group) =>
        (first + (int)((long)(end - first) * group / groups), first + (int)((long)(end - first) * (group + 1) / groups));

    /// <summary>
    /// Adds the bias to a register block's sums, [row][two vectors] in <paramref name="tile"/>, and stores the rows that
    /// exist to their tensor rows, the panel's existing columns only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBlock<TSimd, TVector>(ref float tile, ref float bias, ReadOnlySpan<int> rows, ref float part, int stride, int width)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        nuint lanes = (nuint)TSimd.Count;
        TVector low = TSimd.Load(ref bias, 0), high = TSimd.Load(ref bias, lanes);
        for (int r = 0; r < rows.Length; r++)
        {
            ref float sums = ref Unsafe.Add(ref tile, r * 2 * (int)lanes);
            ref float row = ref Unsafe.Add(ref part, (nint)rows[r] * stride);
            TVector first = TSimd.Add(TSimd.Load(ref sums, 0), low), second = TSimd.Add(TSimd.Load(ref sums, lanes), high);
            if (width == 2 * (int)lanes)
            {
                TSimd.Store(first, ref row, 0);
                TSimd.Store(second, ref row, lanes);
            }
            else
            {
                // The last panel of a part: its sums with the bias back in the tile, then only the columns that exist.
                TSimd.Store(first, ref sums, 0);
                TSimd.Store(second, ref sums, lanes);
                MemoryMarshal.CreateReadOnlySpan(ref sums, width).CopyTo(MemoryMarshal.CreateSpan(ref row, width));
            }
        }
    }

    /// <summary>
    /// <typeparamref name="TRows"/>.Count rows (4, 6 or 12) by one panel, the rows <paramref name="aStride"/> floats apart
    /// per input: two accumulators a row, and per input two weight loads and one broadcast a row feeding two FMAs a
    /// row. Count is a JIT-time constant, so the rows past it compile away: 12 rows fill a 32-register file (24
    /// accumulators, two weight vectors, one broadcast), 6 a 16-register one, and 4 keep few rows from paying for more.
    /// <paramref name="a"/> is the chunk's packed rows in this thread's scratch, a pinned array, as the multipliers taken from
    /// its addresses need (<see cref="ISimd{TVector}.ScalarFrom"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block<TSimd, TVector, TRows>(ref float a, int aStride, ref float b, int inputs, ref float tile)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
        where TRows : struct, IConstantCount
    {
        nuint lanes = (nuint)TSimd.Count;
        TVector c00 = TSimd.Zero, c01 = TSimd.Zero, c10 = TSimd.Zero, c11 = TSimd.Zero, c20 = TSimd.Zero, c21 = TSimd.Zero;
        TVector c30 = TSimd.Zero, c31 = TSimd.Zero, c40 = TSimd.Zero, c41 = TSimd.Zero, c50 = TSimd.Zero, c51 = TSimd.Zero;
        TVector c60 = TSimd.Zero, c61 = TSimd.Zero, c70 = TSimd.Zero, c71 = TSimd.Zero, c80 = TSimd.Zero, c81 = TSimd.Zero;
        TVector c90 = TSimd.Zero, c91 = TSimd.Zero, cA0 = TSimd.Zero, cA1 = TSimd.Zero, cB0 = TSimd.Zero, cB1 = TSimd.Zero;
        for (int k = 0; k < inputs; k++)
        {
            TVector b0 = TSimd.Load(ref b, 0), b1 = TSimd.Load(ref b, lanes);
            TVector x;
            x = TSimd.ScalarFrom(ref a); c00 = TSimd.MultiplyAddScalar(b0, x, c00); c01 = TSimd.MultiplyAddScalar(b1, x, c01);
            x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 1)); c10 = TSimd.MultiplyAddScalar(b0, x, c10); c11 = TSimd.MultiplyAddScalar(b1, x, c11);
            x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 2)); c20 = TSimd.MultiplyAddScalar(b0, x, c20); c21 = TSimd.MultiplyAddScalar(b1, x, c21);
            x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 3)); c30 = TSimd.MultiplyAddScalar(b0, x, c30); c31 = TSimd.MultiplyAddScalar(b1, x, c31);
            if (TRows.Count > 4) { x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 4)); c40 = TSimd.MultiplyAddScalar(b0, x, c40); c41 = TSimd.MultiplyAddScalar(b1, x, c41); }
            if (TRows.Count > 5) { x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 5)); c50 = TSimd.MultiplyAddScalar(b0, x, c50); c51 = TSimd.MultiplyAddScalar(b1, x, c51); }
            if (TRows.Count > 6) { x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 6)); c60 = TSimd.MultiplyAddScalar(b0, x, c60); c61 = TSimd.MultiplyAddScalar(b1, x, c61); }
            if (TRows.Count > 7) { x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 7)); c70 = TSimd.MultiplyAddScalar(b0, x, c70); c71 = TSimd.MultiplyAddScalar(b1, x, c71); }
            if (TRows.Count > 8) { x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 8)); c80 = TSimd.MultiplyAddScalar(b0, x, c80); c81 = TSimd.MultiplyAddScalar(b1, x, c81); }
            if (TRows.Count > 9) { x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 9)); c90 = TSimd.MultiplyAddScalar(b0, x, c90); c91 = TSimd.MultiplyAddScalar(b1, x, c91); }
            if (TRows.Count > 10) { x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 10)); cA0 = TSimd.MultiplyAddScalar(b0, x, cA0); cA1 = TSimd.MultiplyAddScalar(b1, x, cA1); }
            if (TRows.Count > 11) { x = TSimd.ScalarFrom(ref Unsafe.Add(ref a, 11)); cB0 = TSimd.MultiplyAddScalar(b0, x, cB0); cB1 = TSimd.MultiplyAddScalar(b1, x, cB1); }
            a = ref Unsafe.Add(ref a, aStride);
            b = ref Unsafe.Add(ref b, 2 * lanes);
        }

        TSimd.Store(c00, ref tile, 0 * lanes); TSimd.Store(c01, ref tile, 1 * lanes);
        TSimd.Store(c10, ref tile, 2 * lanes); TSimd.Store(c11, ref tile, 3 * lanes);
        TSimd.Store(c20, ref tile, 4 * lanes); TSimd.Store(c21, ref tile, 5 * lanes);
        TSimd.Store(c30, ref tile, 6 * lanes); TSimd.Store(c31, ref tile, 7 * lanes);
        if (TRows.Count > 4) { TSimd.Store(c40, ref tile, 8 * lanes); TSimd.Store(c41, ref tile, 9 * lanes); }
        if (TRows.Count > 5) { TSimd.Store(c50, ref tile, 10 * lanes); TSimd.Store(c51, ref tile, 11 * lanes); }
        if (TRows.Count > 6) { TSimd.Store(c60, ref tile, 12 * lanes); TSimd.Store(c61, ref tile, 13 * lanes); }
        if (TRows.Count > 7) { TSimd.Store(c70, ref tile, 14 * lanes); TSimd.Store(c71, ref tile, 15 * lanes); }
        if (TRows.Count > 8) { TSimd.Store(c80, ref tile, 16 * lanes); TSimd.Store(c81, ref tile, 17 * lanes); }
        if (TRows.Count > 9) { TSimd.Store(c90, ref tile, 18 * lanes); TSimd.Store(c91, ref tile, 19 * lanes); }
        if (TRows.Count > 10) { TSimd.Store(cA0, ref tile, 20 * lanes); TSimd.Store(cA1, ref tile, 21 * lanes); }
        if (TRows.Count > 11) { TSimd.Store(cB0, ref tile, 22 * lanes); TSimd.Store(cB1, ref tile, 23 * lanes); }
    }

    /// <summary>Without vector hardware: each row against each panel, a float sum over the inputs per column.</summary>
    private static void ScalarItem(scoped in GemmArguments arguments, int item)
    {
        Linear weights = arguments.Weights;
        int inputs = weights.Inputs, panelWidth = PanelWidth;
        (int chunk, int group) = Math.DivRem(item, arguments.ColumnGroups);
        int firstRow = chunk * ChunkRows, endRow = Math.Min(firstRow + ChunkRows, arguments.ComputedRows);
        (int firstPanel, int endPanel) = Share(arguments.FirstPanel, arguments.EndPanel, arguments.ColumnGroups, group);
        Span<float> sums = stackalloc float[panelWidth];
        for (int panel = firstPanel; panel < endPanel; panel++)
        {
            ref float panelWeights = ref weights.PanelWeights(panel);
            ref float bias = ref weights.PanelBias(panel);
            Span<float> part = arguments.Output.Slice((int)(weights.PartOffset(panel, arguments.Rows) - arguments.OutputBase));
            int stride = weights.PartStride(panel), width = weights.PanelColumns(panel);
            for (int i = firstRow; i < endRow; i++)
            {
                int row = arguments.RowAt(i);
                ReadOnlySpan<float> x = arguments.Input.Slice(row * inputs, inputs);
                MemoryMarshal.CreateReadOnlySpan(ref bias, panelWidth).CopyTo(sums);
                for (int k = 0; k < inputs; k++)
                {
                    ref float w = ref Unsafe.Add(ref panelWeights, k * panelWidth);
                    for (int j = 0; j < panelWidth; j++)
                    {
                        sums[j] += x[k] * Unsafe.Add(ref w, j);
                    }
                }

                sums.Slice(0, width).CopyTo(part.Slice(row * stride, width));
            }
        }
    }
}
