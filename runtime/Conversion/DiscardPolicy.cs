namespace Hvrt.Conversion;

/// <summary>The bits of hvrt_set_discard_policy: which side a conversion discards.</summary>
internal static class DiscardPolicy
{
    /// <summary>HVRT_DISCARD_SHARED: to private drops the shared pages (madvise).</summary>
    public const uint Shared = 1u << 0;

    /// <summary>HVRT_DISCARD_PRIVATE: to shared punches the private file (fallocate).</summary>
    public const uint Private = 1u << 1;

    public const uint All = Shared | Private;

    public const uint Default = All;
}
