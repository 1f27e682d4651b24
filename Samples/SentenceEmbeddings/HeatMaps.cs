using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using AttentionGen;
using SkiaSharp;

namespace SentenceEmbeddings;

/// <summary>
/// One PNG per layer and head of one sentence's attention weights, tokens on both axes: the picture of which token
/// looks at which. The weights are the probabilities (after the mask and the softmax) that the weights overload of the
/// generated <see cref="MiniLmAttention.Layer"/>'s Forward writes, layer by layer.
/// </summary>
public static class HeatMaps
{
    /// <summary>Writes <c>layerL-headH.png</c> for every layer and head into <paramref name="directory"/>, reads each back, and returns the files.</summary>
    public static IReadOnlyList<string> Write(MiniLmEncoder encoder, long[] inputIds, string[] tokens, string directory)
    {
        Directory.CreateDirectory(directory);
        int length = inputIds.Length, heads = MiniLmAttention.Heads;
        var files = new List<string>();
        encoder.Encode(inputIds, 1, length, new[] { length }, (layer, w) =>
        {
            float[] weights = encoder.AttentionWeights(w, layer);
            for (int h = 0; h < heads; h++)
            {
                string file = Path.Combine(directory, $"layer{layer}-head{h}.png");
                Render(weights.AsSpan(h * length * length, length * length), tokens, $"layer {layer}, head {h}", file);
                files.Add(file);
            }
        });

        foreach (string file in files)
        {
            using SKBitmap? decoded = SKBitmap.Decode(file);
            if (decoded is null || decoded.Width == 0 || decoded.Height == 0)
            {
                throw new InvalidDataException($"{file} does not decode as an image.");
            }
        }

        return files;
    }

    private static void Render(ReadOnlySpan<float> weights, string[] tokens, string title, string file)
    {
        int n = tokens.Length;
        var data = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                data[i, j] = weights[i * n + j]; // row i: query token i, column j: key token j
            }
        }

        var plot = new ScottPlot.Plot();
        ScottPlot.Plottables.Heatmap map = plot.Add.Heatmap(data);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        map.Extent = new ScottPlot.CoordinateRect(0, n - 1, 0, n - 1); // the corner cells' centres: cell (i, j) sits on key j, query n - 1 - i
        plot.Add.ColorBar(map);
        plot.Title(title + " (rows: queries, columns: keys)");
        double[] positions = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, tokens);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions.Select(p => n - 1 - p).ToArray(), tokens);
        plot.Axes.Bottom.TickLabelStyle.Rotation = 90;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 8 * tokens.Max(token => token.Length) + 20; // room for the rotated labels
        int size = Math.Clamp(40 + 28 * n, 480, 1600);
        plot.SavePng(file, size + 120, size);
    }
}
