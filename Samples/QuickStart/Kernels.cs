using AttentionGen;

namespace QuickStart;

// Each declaration below becomes a specialized kernel at build time. Open the generated files (see Program.cs for
// where they are) to read exactly what each one computes.

/// <summary>BERT-base encoder: 12 heads of 64, a padded batch in the head-major layout.</summary>
[Attention(Heads = 12, HeadDim = 64, Mask = AttentionMask.KeyPadding, Layout = AttentionLayout.Bhsd)]
public static partial class BertAttention;

/// <summary>Llama 3 8B: 32 query heads sharing 8 key/value heads of 128, causal, aligned for a KV cache.</summary>
[Attention(Heads = 32, KvHeads = 8, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class LlamaAttention;

/// <summary>Llama 2 7B: 32 heads of 128, each with keys and values of its own, causal, aligned for a KV cache.</summary>
[Attention(Heads = 32, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class Llama2Attention;

/// <summary>Mistral 7B: Llama's shape with a causal sliding window (4096 in the model; 256 in this demo).</summary>
[Attention(Heads = 32, KvHeads = 8, HeadDim = 128, Mask = AttentionMask.Causal | AttentionMask.SlidingWindow,
           Alignment = MaskAlignment.BottomRight, WindowLeft = 255)]
public static partial class MistralAttention;

/// <summary>ViT-B/16 image encoder: 197 tokens (196 patches and a class token), no mask.</summary>
[Attention(Heads = 12, HeadDim = 64)]
public static partial class VitAttention;
