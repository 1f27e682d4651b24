using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using AttentionGen.Generator.Diagnostics;
using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.Generator;

public sealed partial class AttentionGenerator
{
    /// <summary>Reads one <c>[Attention]</c> declaration into a <see cref="KernelModel"/> and its diagnostics.</summary>
    internal static class Parser
    {
        public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            var typeSyntax = (TypeDeclarationSyntax)context.TargetNode;
            var diagnostics = new List<DiagnosticInfo>();
            var repeated = new List<DiagnosticInfo>();
            try
            {
                KernelModel? model = Parse(context, typeSyntax, diagnostics, repeated, cancellationToken);
                return new ParseResult(diagnostics.Count == 0 ? model : null, new EquatableArray<DiagnosticInfo>(diagnostics.Concat(repeated).ToList()));
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // The generator never throws: a crash would surface only as warning CS8785 with the code gone.
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.InternalError, typeSyntax.Identifier.GetLocation(), typeSyntax.Identifier.ValueText, exception.Message));
                return new ParseResult(null, new EquatableArray<DiagnosticInfo>(diagnostics));
            }
        }

        /// <param name="repeated">Receives ATTN0017 for repeated attributes, which do not stop the first one from generating.</param>
        private static KernelModel? Parse(
            GeneratorAttributeSyntaxContext context, TypeDeclarationSyntax typeSyntax, List<DiagnosticInfo> diagnostics, List<DiagnosticInfo> repeated,
            CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not INamedTypeSymbol type || type.TypeKind is not (TypeKind.Class or TypeKind.Struct) || context.Attributes.IsEmpty)
            {
                // [Attention] on anything else is already a compiler error (CS0592).
                return null;
            }

            if (HasMissingName(type))
            {
                // Half-typed code such as "partial class [Attention(...)]" with no name yet: the compiler reports it.
                return null;
            }

            Location identifier = typeSyntax.Identifier.GetLocation();
            string typeName = type.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat);
            AttributeData attribute = context.Attributes[0];
            if (attribute.AttributeClass is null or IErrorTypeSymbol || attribute.AttributeConstructor is null)
            {
                // The compiler could not bind the attribute ([Attention(4)], a half-typed argument): it reports that, and
                // the attribute's arguments mean nothing, so no ATTN diagnostic of ours would be right.
                return null;
            }

            // [Attention] on several partial declarations of one type (the compiler adds CS0579): the first one, in
            // declaration order, generates the kernel and reports each other one on its own attribute. Whether the
            // pipeline visits the other declarations too or not, they add nothing.
            List<AttributeData> attentionAttributes = type.GetAttributes()
                .Where(candidate => SymbolEqualityComparer.Default.Equals(candidate.AttributeClass, attribute.AttributeClass))
                .ToList();
            if (!IsOn(attentionAttributes[0], typeSyntax))
            {
                return null;
            }

            foreach (AttributeData other in attentionAttributes.Skip(1))
            {
                if (other.ApplicationSyntaxReference is { } reference)
                {
                    repeated.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateAttribute, reference.GetSyntax(cancellationToken).GetLocation(), typeName));
                }
            }

            if (FileLocalType(type) is { } fileLocal)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.FileLocalType, identifier, typeName,
                    SymbolEqualityComparer.Default.Equals(fileLocal, type) ? string.Empty : " by being inside the file-local type '" + fileLocal.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat) + "'"));
            }

            if (GeneratedMembers.Contains(type.Name))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TypeNamedLikeGeneratedMember, identifier, typeName, type.Name));
            }

            foreach (ISymbol member in type.GetMembers())
            {
                if (GeneratedMembers.Contains(member.Name) && !member.IsImplicitlyDeclared && member.Locations.FirstOrDefault(l => l.IsInSource) is { } location)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MemberClash, location, typeName, member.Name));
                }
            }

            if (!typeSyntax.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.TypeNotPartial, identifier, typeName));
            }

            for (INamedTypeSymbol? containing = type.ContainingType; containing is not null; containing = containing.ContainingType)
            {
                if (!IsPartial(containing, cancellationToken))
                {
                    diagnostics.Add(DiagnosticInfo.Create(
                        DiagnosticDescriptors.ContainingTypeNotPartial, identifier,
                        containing.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat), typeName));
                }
            }

            if (type.TypeParameters.Length > 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GenericType, identifier, typeName, string.Empty));
            }
            else if (FirstGenericContainer(type) is { } genericContainer)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.GenericType, identifier, typeName,
                    " by being inside '" + genericContainer.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat) + "'"));
            }

            LanguageVersion languageVersion = ((CSharpParseOptions)typeSyntax.SyntaxTree.Options).LanguageVersion;
            if (languageVersion < LanguageVersion.CSharp11)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.LanguageVersionTooLow, identifier, languageVersion.ToDisplayString()));
            }

            var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            KernelConfiguration? configuration = ReadConfiguration(attribute, attributeSyntax, identifier, diagnostics);
            ProjectionModel? projections = null;
            if (configuration is not null
                && type.GetAttributes().FirstOrDefault(candidate => candidate.AttributeClass?.ToDisplayString() == ProjectionsMetadataName) is { } projectionsAttribute)
            {
                if (type.GetMembers(LayerName).FirstOrDefault(member => !member.IsImplicitlyDeclared)?.Locations.FirstOrDefault(l => l.IsInSource) is { } clash)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MemberClash, clash, typeName, LayerName));
                }

                projections = ReadProjections(projectionsAttribute, configuration, typeName, identifier, diagnostics, cancellationToken);
            }

            if (configuration is null || diagnostics.Count > 0)
            {
                return null;
            }

            return new KernelModel(ReadHierarchy(type), configuration, projections);
        }

        /// <summary>
        /// Reads and checks the attribute's properties. Returns null, with no diagnostic of its own, when the attribute
        /// itself does not bind (half-typed code): the compiler already reports that.
        /// </summary>
        private static KernelConfiguration? ReadConfiguration(
            AttributeData attribute, AttributeSyntax? syntax, Location fallback, List<DiagnosticInfo> diagnostics)
        {
            if (!attribute.ConstructorArguments.IsEmpty)
            {
                return null;
            }

            int heads = 0, kvHeads = 0, headDim = 0, valueDim = 0, windowLeft = 0, windowRight = 0;
            int mask = 0, alignment = 0, layout = 0;
            float scale = 0, softcap = 0;
            foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
            {
                TypedConstant value = argument.Value;
                if (value.Kind == TypedConstantKind.Error || value.IsNull || value.Value is null)
                {
                    return null;
                }

                switch (argument.Key)
                {
                    case nameof(AttentionAttribute.Heads): heads = (int)value.Value; break;
                    case nameof(AttentionAttribute.KvHeads): kvHeads = (int)value.Value; break;
                    case nameof(AttentionAttribute.HeadDim): headDim = (int)value.Value; break;
                    case nameof(AttentionAttribute.ValueDim): valueDim = (int)value.Value; break;
                    case nameof(AttentionAttribute.Mask): mask = Convert.ToInt32(value.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case nameof(AttentionAttribute.Alignment): alignment = Convert.ToInt32(value.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case nameof(AttentionAttribute.WindowLeft): windowLeft = (int)value.Value; break;
                    case nameof(AttentionAttribute.WindowRight): windowRight = (int)value.Value; break;
                    case nameof(AttentionAttribute.Scale): scale = (float)value.Value; break;
                    case nameof(AttentionAttribute.Softcap): softcap = (float)value.Value; break;
                    case nameof(AttentionAttribute.Layout): layout = Convert.ToInt32(value.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                    default: return null;
                }
            }

            List<ConfigurationIssue> issues = ConfigurationRules.Check(
                heads, kvHeads, headDim, valueDim, (AttentionMask)mask, (MaskAlignment)alignment, windowLeft, windowRight, scale, softcap, (AttentionLayout)layout);
            foreach (ConfigurationIssue issue in issues)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.For(issue.Problem), ArgumentLocation(syntax, issue.Property) ?? syntax?.GetLocation() ?? fallback, issue.Arguments));
            }

            if (issues.Count > 0)
            {
                return null;
            }

            return new KernelConfiguration(
                heads,
                kvHeads == 0 ? heads : kvHeads,
                headDim,
                valueDim == 0 ? headDim : valueDim,
                (AttentionMask)mask,
                (MaskAlignment)alignment,
                windowLeft,
                windowRight,
                scale == 0 ? ConfigurationRules.DefaultScale(headDim) : scale,
                ScaleIsDefault: scale == 0,
                softcap,
                (AttentionLayout)layout);
        }

        /// <summary>ATTN0024 when the type with this <c>[AttentionProjections]</c> has no <c>[Attention]</c>; otherwise nothing.</summary>
        public static EquatableArray<DiagnosticInfo> OrphanProjections(GeneratorAttributeSyntaxContext context)
        {
            if (context.TargetSymbol is not INamedTypeSymbol type || context.Attributes.IsEmpty
                || type.GetAttributes().Any(candidate => candidate.AttributeClass?.ToDisplayString() == AttributeMetadataName)
                || context.Attributes[0].ApplicationSyntaxReference is not { } reference
                || reference.SyntaxTree != context.TargetNode.SyntaxTree || !context.TargetNode.Span.Contains(reference.Span))
            {
                return new EquatableArray<DiagnosticInfo>(new List<DiagnosticInfo>());
            }

            return new EquatableArray<DiagnosticInfo>(new List<DiagnosticInfo>
            {
                DiagnosticInfo.Create(DiagnosticDescriptors.ProjectionsWithoutAttention, reference.GetSyntax().GetLocation(), type.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat)),
            });
        }

        /// <summary>The metadata name of <see cref="AttentionProjectionsAttribute"/>.</summary>
        internal const string ProjectionsMetadataName = "AttentionGen.AttentionProjectionsAttribute";

        /// <summary>The nested class a declaration with projections gets.</summary>
        internal const string LayerName = "Layer";

        /// <summary>
        /// Reads and checks <c>[AttentionProjections]</c>: every size from 1 to 65536 (0 for a default), and the kernel in
        /// the Bshd layout. Returns null, with no diagnostic of its own, when the attribute does not bind.
        /// </summary>
        private static ProjectionModel? ReadProjections(
            AttributeData attribute, KernelConfiguration kernel, string typeName, Location fallback, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
        {
            if (attribute.AttributeConstructor is null || !attribute.ConstructorArguments.IsEmpty)
            {
                return null;
            }

            var syntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            int querySize = 0, keySize = 0, valueSize = 0, outputSize = 0;
            bool bias = true;
            foreach (KeyValuePair<string, TypedConstant> argument in attribute.NamedArguments)
            {
                if (argument.Value.Kind == TypedConstantKind.Error || argument.Value.Value is null)
                {
                    return null;
                }

                switch (argument.Key)
                {
                    case nameof(AttentionProjectionsAttribute.QuerySize): querySize = (int)argument.Value.Value; break;
                    case nameof(AttentionProjectionsAttribute.KeySize): keySize = (int)argument.Value.Value; break;
                    case nameof(AttentionProjectionsAttribute.ValueSize): valueSize = (int)argument.Value.Value; break;
                    case nameof(AttentionProjectionsAttribute.OutputSize): outputSize = (int)argument.Value.Value; break;
                    case nameof(AttentionProjectionsAttribute.Bias): bias = (bool)argument.Value.Value; break;
                    default: return null;
                }
            }

            const int Largest = 65536;
            int before = diagnostics.Count;
            void Check(string property, int size, bool required)
            {
                if (size > Largest || size < (required ? 1 : 0))
                {
                    diagnostics.Add(DiagnosticInfo.Create(
                        DiagnosticDescriptors.ProjectionSizeOutOfRange, ArgumentLocation(syntax, property) ?? syntax?.GetLocation() ?? fallback,
                        property, size.ToString(System.Globalization.CultureInfo.InvariantCulture), required ? string.Empty : ", or 0 for its default"));
                }
            }

            Check(nameof(AttentionProjectionsAttribute.QuerySize), querySize, required: true);
            Check(nameof(AttentionProjectionsAttribute.KeySize), keySize, required: false);
            Check(nameof(AttentionProjectionsAttribute.ValueSize), valueSize, required: false);
            Check(nameof(AttentionProjectionsAttribute.OutputSize), outputSize, required: false);
            if (kernel.Layout != AttentionLayout.Bshd)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ProjectionsNeedBshd, syntax?.GetLocation() ?? fallback, typeName, kernel.Layout.ToString()));
            }

            if (diagnostics.Count > before)
            {
                return null;
            }

            keySize = keySize == 0 ? querySize : keySize;
            return new ProjectionModel(querySize, keySize, valueSize == 0 ? keySize : valueSize, outputSize == 0 ? querySize : outputSize, bias);
        }

        /// <summary>The location of <c>Property = value</c> in the attribute, so the squiggle lands on the value at fault.</summary>
        private static Location? ArgumentLocation(AttributeSyntax? syntax, string property) =>
            syntax?.ArgumentList?.Arguments
                .FirstOrDefault(argument => argument.NameEquals?.Name.Identifier.ValueText == property)
                ?.GetLocation();

        private static TypeHierarchy ReadHierarchy(INamedTypeSymbol type)
        {
            var types = new List<TypeDeclaration>();
            for (INamedTypeSymbol? current = type; current is not null; current = current.ContainingType)
            {
                types.Add(new TypeDeclaration(Keyword(current), current.Name));
            }

            types.Reverse();
            string ns = type.ContainingNamespace is { IsGlobalNamespace: false } containingNamespace
                ? containingNamespace.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat.WithGlobalNamespaceStyle(SymbolDisplayGlobalNamespaceStyle.Omitted))
                : string.Empty;
            return new TypeHierarchy(ns, new EquatableArray<TypeDeclaration>(types));
        }

        private static string Keyword(INamedTypeSymbol type) => (type.IsRecord, type.TypeKind, type.IsRefLikeType, type.IsReadOnly) switch
        {
            (true, TypeKind.Struct, _, true) => "readonly partial record struct",
            (true, TypeKind.Struct, _, false) => "partial record struct",
            (true, _, _, _) => "partial record",
            (false, TypeKind.Struct, true, true) => "readonly ref partial struct",
            (false, TypeKind.Struct, true, false) => "ref partial struct",
            (false, TypeKind.Struct, false, true) => "readonly partial struct",
            (false, TypeKind.Struct, false, false) => "partial struct",
            (false, TypeKind.Interface, _, _) => "partial interface",
            _ => type.IsStatic ? "static partial class" : "partial class",
        };

        /// <summary>The members the generator adds to the annotated type; the user's type may declare none of these names.</summary>
        private static readonly ImmutableHashSet<string> GeneratedMembers = ImmutableHashSet.Create(
            StringComparer.Ordinal, "Heads", "KvHeads", "HeadDim", "ValueDim", "Configuration", "Forward", "CreateCache");

        /// <summary>Whether <paramref name="attribute"/> stands on the declaration <paramref name="declaration"/>.</summary>
        private static bool IsOn(AttributeData attribute, TypeDeclarationSyntax declaration) =>
            attribute.ApplicationSyntaxReference is { } reference
            && reference.SyntaxTree == declaration.SyntaxTree
            && declaration.AttributeLists.Any(list => list.Span.Contains(reference.Span));

        /// <summary>The annotated type, or the type containing it, that is declared <c>file</c>; null when none is.</summary>
        private static INamedTypeSymbol? FileLocalType(INamedTypeSymbol type)
        {
            for (INamedTypeSymbol? current = type; current is not null; current = current.ContainingType)
            {
                if (current.IsFileLocal)
                {
                    return current;
                }
            }

            return null;
        }

        private static bool IsPartial(INamedTypeSymbol type, CancellationToken cancellationToken)
        {
            foreach (SyntaxReference reference in type.DeclaringSyntaxReferences)
            {
                if (reference.GetSyntax(cancellationToken) is TypeDeclarationSyntax declaration && declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
                {
                    return true;
                }
            }

            return false;
        }

        private static bool HasMissingName(INamedTypeSymbol type)
        {
            for (INamedTypeSymbol? current = type; current is not null; current = current.ContainingType)
            {
                if (string.IsNullOrEmpty(current.Name))
                {
                    return true;
                }
            }

            return false;
        }

        private static INamedTypeSymbol? FirstGenericContainer(INamedTypeSymbol type)
        {
            for (INamedTypeSymbol? containing = type.ContainingType; containing is not null; containing = containing.ContainingType)
            {
                if (containing.TypeParameters.Length > 0)
                {
                    return containing;
                }
            }

            return null;
        }
    }
}
