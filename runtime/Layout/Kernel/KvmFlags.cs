namespace Hvrt.Layout;

/// <summary>Memslot flag bits (uapi KVM_MEM_*).</summary>
internal static class SlotFlags
{
    public const uint LogDirtyPages = 1u << 0;
    public const uint Readonly = 1u << 1;

    /// <summary>KVM_MEM_GUEST_MEMFD (mainline) and KVM_MEM_PRIVATE (2022 proposal) share bit 2.</summary>
    public const uint Private = 1u << 2;
}

/// <summary>Memory attribute bits (uapi KVM_MEMORY_ATTRIBUTE_*).</summary>
internal static class MemAttr
{
    /// <summary>KVM_MEMORY_ATTRIBUTE_PRIVATE; bits 0-2 are reserved for RWX.</summary>
    public const ulong Private = 1UL << 3;
}
