using AttentionGen;

namespace QuickStart;

[Attention(Heads = 32, KvHeads = 8, HeadDim = 128, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class LlamaAttention;

[Attention(Heads = 4, HeadDim = 20, ValueDim = 10, Mask = AttentionMask.Explicit | AttentionMask.KeyPadding, Softcap = 2f, Layout = AttentionLayout.Bhsd)]
public static partial class Odd;

public static class Program
{
    public static void Main()
    {
        System.Console.WriteLine(LlamaAttention.Heads);
    }
}
