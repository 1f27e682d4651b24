using System.Collections.Generic;
using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

internal static partial class KernelEmitter
{
    /// <summary>
    /// Writes the "Kernel explanation" remarks on <c>Forward</c>: the configuration, what is computed, how the work is
    /// tiled and which instruction-set paths exist, so a reader can check the kernel against the declaration.
    /// </summary>
    private static void WriteExplanation(SourceWriter writer, KernelConfiguration kernel, KernelPlan plan)
    {
        writer.WriteLine("/// <remarks>");
        writer.WriteLine("/// <para><b>Kernel explanation</b></para>");
        writer.WriteLine("/// <list type=\"bullet\">");
        foreach (string item in ExplanationItems(kernel, plan))
        {
            writer.WriteLine($"/// <item><description>{EscapeXml(item)}</description></item>");
        }

        writer.WriteLine("/// </list>");
        writer.WriteLine("/// </remarks>");
    }

    private static IEnumerable<string> ExplanationItems(KernelConfiguration kernel, KernelPlan plan)
    {
        string heads = kernel.GroupSize == 1
            ? $"{Literals.Int(kernel.Heads)} query heads, each with its own key/value head"
            : $"{Literals.Int(kernel.Heads)} query heads sharing {Literals.Int(kernel.KvHeads)} key/value head{(kernel.KvHeads == 1 ? string.Empty : "s")}, {Literals.Int(kernel.GroupSize)} per group (query head h reads key/value head h / {Literals.Int(kernel.GroupSize)})";
        yield return $"Configuration: {heads}; HeadDim {Literals.Int(kernel.HeadDim)}, ValueDim {Literals.Int(kernel.ValueDim)}; layout {kernel.Layout} " +
            (kernel.Layout == AttentionLayout.Bshd ? "([batch, sequence, heads, dim])." : "([batch, heads, sequence, dim]).");

        string scale = kernel.ScaleIsDefault ? $"{Literals.Float(kernel.Scale)}, 1/sqrt({Literals.Int(kernel.HeadDim)})" : Literals.Float(kernel.Scale);
        yield return $"Scores: s_j = Scale · (q · k_j) with Scale = {scale}" +
            (kernel.HasSoftcap ? $", then soft-capped to {Literals.Float(kernel.Softcap)} · tanh(s_j / {Literals.Float(kernel.Softcap)}) before any mask." : ", not soft-capped.");

        yield return "Mask: " + MaskExplanation(kernel);

        yield return $"Tiles: blocks of up to {Literals.Int(KernelTiles.WideRowsPerItem)} query rows with AVX-512 and {Literals.Int(KernelTiles.RowsPerItem)} elsewhere, " +
            $"one row per lane ({BlockList(plan)}), against tiles of {Literals.Int(KernelTiles.KeyTile)} keys. The queries are transposed into lanes once per block. " +
            "Every other block of a head walks the tiles from the last to the first, so that it begins on the keys and values the block before " +
            "it read last, still in L2. " +
            "Q·Kᵀ is a register block of keys × lanes: one accumulator per key, each key element broadcast, HeadDim " +
            $"({Literals.Int(kernel.HeadDim)}) steps deep. P·V is a register block of value elements × lanes, walked over the tile's keys; the output " +
            "accumulators (ValueDim × lanes) stay in per-thread scratch. Register blocks per instruction set, chosen at JIT time: where a broadcast " +
            "costs a load or an instruction of its own, each row vector is a pair of vectors and a block is " +
            $"{Literals.Int(KernelTiles.PairedRegisterBlock)} keys or value elements in {Literals.Int(2 * KernelTiles.PairedRegisterBlock)} accumulators, " +
            "each broadcast feeding two multiply-adds, as in the classic AVX2 matrix-product kernel: with AVX-512 for blocks of more than 16 rows " +
            "(32 in two Vector512; a core with two 512-bit FMA pipes cannot also load a broadcast for every multiply-add), and on a 16-register file " +
            "(AVX2, AVX, SSE: 16 rows in two Vector256, 8 in two Vector128). Blocks with fewer rows use one vector: " +
            $"{Literals.Int(KernelTiles.WideRegisterBlock)} keys or value elements where the register file has 32 vectors (AVX-512, whose 256- and " +
            $"128-bit forms also get 32, with broadcasts folded into the multiply-adds; Arm64), {Literals.Int(KernelTiles.NarrowRegisterBlock)} where it has 16. " +
            "Each broadcast reads the element where it lies (ISimd.ScalarFrom): one load with AVX2 or AVX-512, vbroadcastss from memory with AVX " +
            "alone, a load and a shuffle with SSE alone. Arm64 broadcasts nothing: its blocks (ScoreKeysByLane16, AccumulateByLane16) load four " +
            "elements of a key or value row at once and multiply by each in place (fmla by element, ISimd.MultiplyAddLane), and the rest take " +
            "one element alone (ISimd.MultiplyAddScalar).";

        if (kernel.Layout == AttentionLayout.Bshd && kernel.KvHeads > 1)
        {
            bool pageStride = kernel.KvHeads * kernel.HeadDim * sizeof(float) % 4096 == 0;
            yield return $"Staging: in this layout a key/value head's rows lie {Literals.Int(kernel.KvHeads)} × HeadDim floats apart, between the other heads' rows " +
                "(over more pages, and at power-of-two strides in few cache sets). In a call over tensors where a head has at least " +
                $"{Literals.Int(KernelTiles.StagedHeadRows)} query rows (GroupSize × queryLength)" +
                (pageStride
                    ? ", whatever its key count (its rows are a multiple of 4 KiB apart, and their lines would share L1 sets), "
                    : $" and its row blocks read more than {Literals.Int(KernelTiles.KeyTile)} keys (fewer are read in place, once per block), ") +
                "each thread copies the head's keys and values into consecutive rows on its first work item on it, and its row blocks read the copy.";
        }

        yield return $"Softmax: online, lane by lane: per tile, the maximum, a rescale of the running sum and accumulators by exp(old max − new max), and " +
            "p = exp(s − max) written over the scores. The tile of scores is the only intermediate; no queryLength × keyLength matrix exists. " +
            "exp is KernelMath.ExpNonPositive, a polynomial within 2 ulp for the arguments s − max ≤ 0 it is given; with rows in pairs of vectors, " +
            "one half of the pair at a time, so that a 16-register file holds the loop. A row that sees no key is written as zeros, never NaN.";

        if (kernel.IsCausal || kernel.HasWindow)
        {
            yield return "Skipped work: a block reads only the keys some row of it sees; tiles every row sees whole skip per-element masking, so " +
                "only the tiles where the rows' ranges differ (the causal diagonal, the window's edges) are masked element by element." +
                (kernel.HasExplicitMask
                    ? ""
                    : " With AVX-512, a block of 32 rows scores the keys that only its upper 16 rows see (the last 16 of its diagonal) against those rows alone.");
        }

        var widths = new List<string>();
        foreach ((string type, int lanes) in plan.OneRowWidths)
        {
            widths.Add(OneRowWidth(kernel, type, lanes));
        }

        string paths = widths.Count == 0
            ? $"a head of {Literals.Int(System.Math.Min(kernel.HeadDim, kernel.ValueDim))} floats fills no vector, so the scalar kernel runs; a Half cache is widened into floats for it"
            : "the widest accelerated one of " + string.Join("; ", widths) + "; else a scalar kernel that accumulates in double";
        yield return "One-row kernels (the runtime's RowKernel), for blocks that would fill less than half a vector (decoding a token, say) and for " +
            "the KV cache: each score a dot product over four chains of fused multiply-adds and one horizontal sum, the scaled query in registers " +
            "when the head is exactly eight vectors; P·V into blocks of eight, four and one vectors of the accumulator held in registers over a tile's " +
            $"keys, or, where a value head is more than eight vectors, over {Literals.Int(KernelTiles.RowValueKeys)} keys at a time while the next " +
            $"{Literals.Int(KernelTiles.RowValueKeys)} keys' value rows are prefetched (the blocks after the first then find the rows in L1); " +
            $"on Intel cores, the key and value rows are also prefetched {Literals.Int(KernelTiles.PrefetchKeys)} keys ahead into L1 and {Literals.Int(KernelTiles.PrefetchFarKeys)} keys ahead into L2; " +
            $"tiles of {Literals.Int(KernelTiles.RowKeyTile)} keys; over a Half cache, the halves are widened in registers. " +
            "Paths: " + paths + ".";

        if (kernel.GroupSize > 1 && widths.Count > 0 && !kernel.HasExplicitMask)
        {
            yield return $"Groups: decoding over a KV cache, the {Literals.Int(kernel.GroupSize)} query heads of a key/value head see the same keys, so up to " +
                $"{Literals.Int(KernelTiles.GroupRows)} of them run together on the paths above: each key and value vector is loaded, and a half widened, " +
                "once for all of them; the scores take four keys at a time on a 32-register file and two on a 16-register one (a chain of " +
                "multiply-adds per row and key), P·V holds up to four vectors of " +
                $"every row's accumulator (two on a 16-register file, where more than two such passes go {Literals.Int(KernelTiles.RowValueKeys)} keys at a time " +
                "and share out the requests for the value rows ahead, into L2), " +
                $"and keys and values are prefetched {Literals.Int(KernelTiles.PrefetchKeys)} keys ahead (on Intel cores also {Literals.Int(KernelTiles.PrefetchFarKeys)} keys ahead into L2).";
        }
        else if (kernel.GroupSize > 1 && kernel.HasExplicitMask)
        {
            yield return $"Groups: none. The explicit mask differs from head to head, so each of the {Literals.Int(kernel.GroupSize)} query heads " +
                "of a key/value head runs the one-row kernel on its own.";
        }

        yield return $"Work: items of up to {Literals.Int(KernelTiles.WideRowsPerItem)} rows of one (batch entry, head) with AVX-512, {Literals.Int(KernelTiles.RowsPerItem)} elsewhere, ordered so that the blocks sharing a key/value head run " +
            "back to back, handed out to up to AttentionRuntime.MaxDegreeOfParallelism threads from a shared counter: one at a time (so the causal " +
            $"mask's cheap early blocks and costly late ones even out), or, when a call has {Literals.Int(KernelTiles.GroupsPerThread)} or more key/value heads per thread, a head's " +
            "blocks at once (so one thread reads each head's keys and values) until one head per thread is left, whose blocks go one at a time (so " +
            "the threads finish together); small calls stay on the calling thread. The widest accelerated path is chosen at JIT time " +
            "from IsHardwareAccelerated; without SIMD every row takes the scalar kernel. Multiply-adds use MultiplyAddEstimate: one fused " +
            "instruction on AVX2, AVX-512 and NEON, a multiply and an add on x64 machines without FMA (where the fused form would be emulated). " +
            "The register blocks below are inlined into the runtime's tile loops where the JIT takes them in, and are otherwise fully " +
            "optimized from their first call (AggressiveOptimization), so that a process's first calls run the same code as its later ones.";
    }

    private static string BlockList(KernelPlan plan)
    {
        var parts = new List<string>();
        foreach ((string type, int lanes) in plan.RowBlockWidths)
        {
            parts.Add($"{Literals.Int(lanes)} on {type}");
        }

        return string.Join(", ", parts);
    }

    private static string MaskExplanation(KernelConfiguration kernel)
    {
        var parts = new List<string>();
        if (kernel.IsCausal || kernel.HasWindow)
        {
            parts.Add(kernel.Alignment == MaskAlignment.BottomRight
                ? "query row i sits at key position p = i + valid − queryLength (bottom-right alignment), where valid is " +
                  (kernel.HasKeyPadding ? "keyLengths[b]" : "keyLength")
                : "query row i sits at key position p = i (top-left alignment)");
        }

        if (kernel.IsCausal)
        {
            parts.Add("causal: key j is visible only if j ≤ p");
        }

        if (kernel.HasWindow)
        {
            parts.Add($"sliding window: key j is visible only if p − {Literals.Int(kernel.WindowLeft)} ≤ j ≤ p + {Literals.Int(kernel.WindowRight)}");
        }

        if (kernel.HasKeyPadding)
        {
            parts.Add("key padding: key j of batch entry b is visible only if j < keyLengths[b]");
        }

        if (parts.Count > 0)
        {
            parts.Add("together these rules leave each row one interval of keys, and the kernel reads nothing outside it");
        }

        if (kernel.HasExplicitMask)
        {
            parts.Add("explicit: the mask's value is added to the score (additive) or the key is excluded where it is false (boolean)");
        }

        return parts.Count == 0 ? "none; every key is visible." : string.Join("; ", parts) + ".";
    }

    private static string EscapeXml(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    /// <summary>How a one-row kernel of one width covers the heads: "Vector512 (8 vectors per query/key head, 8 per value head)".</summary>
    private static string OneRowWidth(KernelConfiguration kernel, string type, int lanes)
    {
        string Cover(int dim, string what)
        {
            int whole = dim / lanes;
            return dim % lanes == 0
                ? $"{Literals.Int(whole)} vector{(whole == 1 ? string.Empty : "s")} per {what}"
                : $"{Literals.Int(whole + 1)} vectors per {what}, the last overlapping the one before by {Literals.Int(lanes - dim % lanes)} lanes";
        }

        return $"{type} ({Cover(kernel.HeadDim, "query/key head")}; {Cover(kernel.ValueDim, "value head")})";
    }
}
