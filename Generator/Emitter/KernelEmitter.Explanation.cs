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
    private static void WriteExplanation(SourceWriter writer, KernelModel model, KernelPlan plan)
    {
        KernelConfiguration kernel = model.Kernel;
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

        yield return $"Softmax: online, over tiles of {Literals.Int(KernelPlan.KeyTile)} keys: each tile's scores are computed, their maximum taken, the running sum and " +
            "accumulators rescaled by exp(old max − new max) only when the maximum grows, and p_j = exp(s_j − max) accumulated into output += p_j · v_j. " +
            "The scores of one tile are the only intermediate; no queryLength × keyLength matrix exists. A row that sees no key is written as zeros, never NaN.";

        yield return $"Work: items of {Literals.Int(KernelPlan.RowsPerItem)} query rows of one (batch entry, head), handed out one at a time to up to " +
            "AttentionRuntime.MaxDegreeOfParallelism threads; small calls stay on the calling thread.";

        var paths = new List<string>();
        foreach (VectorPath path in plan.Paths)
        {
            paths.Add($"{path.Type} ({ChunkText(path.Head, "query/key head")}; {ChunkText(path.Value, "value head")}; fused multiply-add)");
        }

        foreach ((string type, int lanes) in plan.SkippedPaths)
        {
            paths.Add($"no {type} path (a head narrower than {Literals.Int(lanes)} floats does not fill one vector)");
        }

        paths.Add("a scalar path when no vector width is accelerated");
        yield return "Paths, chosen at JIT time from IsHardwareAccelerated, widest first: " + string.Join("; ", paths) + ".";
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

    private static string ChunkText(Chunks chunks, string what)
    {
        string count = $"{Literals.Int(chunks.Count)} vector{(chunks.Count == 1 ? string.Empty : "s")} per {what}";
        return chunks.Overlap == 0
            ? count
            : $"{count}, the last overlapping the one before by {Literals.Int(chunks.Overlap)} lanes";
    }
}
