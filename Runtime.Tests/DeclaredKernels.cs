using System.Collections.Generic;
using AttentionGen.Runtime.Tests.Infrastructure;

namespace AttentionGen.Runtime.Tests;

// Kernels declared the way a user declares them, compiled by the real build through the generator.

/// <summary>Llama-style causal grouped-query decoder attention.</summary>
[Attention(Heads = 8, KvHeads = 2, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class LlamaKernel;

/// <summary>BERT-style padded encoder attention in the head-major layout.</summary>
[Attention(Heads = 4, HeadDim = 64, Mask = AttentionMask.KeyPadding, Layout = AttentionLayout.Bhsd)]
public static partial class BertKernel;

/// <summary>Mistral-style causal sliding window with multi-query attention.</summary>
[Attention(Heads = 4, KvHeads = 1, HeadDim = 64, Mask = AttentionMask.Causal | AttentionMask.SlidingWindow, Alignment = MaskAlignment.BottomRight, WindowLeft = 37)]
public static partial class MistralKernel;

/// <summary>A two-sided window, top-left aligned.</summary>
[Attention(Heads = 2, HeadDim = 32, Mask = AttentionMask.SlidingWindow, Alignment = MaskAlignment.TopLeft, WindowLeft = 5, WindowRight = 3, Layout = AttentionLayout.Bhsd)]
public static partial class LocalWindowKernel;

/// <summary>An explicit mask with head sizes that fit no vector width exactly.</summary>
[Attention(Heads = 3, HeadDim = 17, ValueDim = 9, Mask = AttentionMask.Explicit)]
public static partial class ExplicitKernel;

/// <summary>Gemma-style soft-capped causal attention with an explicit scale.</summary>
[Attention(Heads = 4, KvHeads = 2, HeadDim = 48, Mask = AttentionMask.Causal, Alignment = MaskAlignment.TopLeft, Scale = 0.0625f, Softcap = 50f)]
public static partial class GemmaKernel;

/// <summary>The smallest kernel there is: scalar only.</summary>
[Attention(Heads = 1, HeadDim = 1)]
public static partial class TinyKernel;

/// <summary>Head sizes below every vector width.</summary>
[Attention(Heads = 2, HeadDim = 3, ValueDim = 5)]
public static partial class NarrowKernel;

/// <summary>The largest heads allowed.</summary>
[Attention(Heads = 2, HeadDim = 512, Mask = AttentionMask.Causal | AttentionMask.KeyPadding, Alignment = MaskAlignment.BottomRight)]
public static partial class WideKernel;

/// <summary>Every mask at once.</summary>
[Attention(Heads = 6, KvHeads = 3, HeadDim = 33, ValueDim = 40,
           Mask = AttentionMask.Causal | AttentionMask.SlidingWindow | AttentionMask.KeyPadding | AttentionMask.Explicit,
           Alignment = MaskAlignment.BottomRight, WindowLeft = 20, Softcap = 5f, Layout = AttentionLayout.Bhsd)]
public static partial class EverythingKernel;

/// <summary>Key rows 4 KiB apart (8 key/value heads of 128 in Bshd), which row blocks pack before scoring.</summary>
[Attention(Heads = 16, KvHeads = 8, HeadDim = 128, ValueDim = 40, Mask = AttentionMask.Causal, Alignment = MaskAlignment.TopLeft)]
public static partial class PackedKeysKernel;

public static partial class Outer
{
    /// <summary>A kernel nested in another type.</summary>
    [Attention(Heads = 2, HeadDim = 24, Mask = AttentionMask.Causal, Alignment = MaskAlignment.TopLeft)]
    public partial struct NestedKernel;
}

public static class DeclaredKernels
{
    /// <summary>Every declared kernel, callable through one signature.</summary>
    public static IReadOnlyList<KernelUnderTest> All { get; } = new KernelUnderTest[]
    {
        new(nameof(LlamaKernel), LlamaKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => LlamaKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => LlamaKernel.Forward(q, c, o, b, ql)),
        new(nameof(BertKernel), BertKernel.Configuration, (q, k, v, o, b, ql, kl, kls, _) => BertKernel.Forward(q, k, v, o, b, ql, kl, kls),
            (q, c, o, b, ql, m) => BertKernel.Forward(q, c, o, b, ql)),
        new(nameof(MistralKernel), MistralKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => MistralKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => MistralKernel.Forward(q, c, o, b, ql)),
        new(nameof(LocalWindowKernel), LocalWindowKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => LocalWindowKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => LocalWindowKernel.Forward(q, c, o, b, ql)),
        new(nameof(ExplicitKernel), ExplicitKernel.Configuration, (q, k, v, o, b, ql, kl, _, m) => ExplicitKernel.Forward(q, k, v, o, b, ql, kl, m),
            (q, c, o, b, ql, m) => ExplicitKernel.Forward(q, c, o, b, ql, m)),
        new(nameof(GemmaKernel), GemmaKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => GemmaKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => GemmaKernel.Forward(q, c, o, b, ql)),
        new(nameof(TinyKernel), TinyKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => TinyKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => TinyKernel.Forward(q, c, o, b, ql)),
        new(nameof(NarrowKernel), NarrowKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => NarrowKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => NarrowKernel.Forward(q, c, o, b, ql)),
        new(nameof(WideKernel), WideKernel.Configuration, (q, k, v, o, b, ql, kl, kls, _) => WideKernel.Forward(q, k, v, o, b, ql, kl, kls),
            (q, c, o, b, ql, m) => WideKernel.Forward(q, c, o, b, ql)),
        new(nameof(EverythingKernel), EverythingKernel.Configuration, (q, k, v, o, b, ql, kl, kls, m) => EverythingKernel.Forward(q, k, v, o, b, ql, kl, kls, m),
            (q, c, o, b, ql, m) => EverythingKernel.Forward(q, c, o, b, ql, m)),
        new(nameof(PackedKeysKernel), PackedKeysKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => PackedKeysKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => PackedKeysKernel.Forward(q, c, o, b, ql)),
        new(nameof(Outer.NestedKernel), Outer.NestedKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => Outer.NestedKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => Outer.NestedKernel.Forward(q, c, o, b, ql)),
        new(nameof(GlobalNamespaceKernel), GlobalNamespaceKernel.Configuration, (q, k, v, o, b, ql, kl, _, _) => GlobalNamespaceKernel.Forward(q, k, v, o, b, ql, kl),
            (q, c, o, b, ql, m) => GlobalNamespaceKernel.Forward(q, c, o, b, ql)),
    };

    public static IEnumerable<object[]> Names()
    {
        foreach (KernelUnderTest kernel in All)
        {
            yield return new object[] { kernel.Name };
        }
    }

    public static KernelUnderTest Get(string name) => System.Linq.Enumerable.Single(All, kernel => kernel.Name == name);
}
