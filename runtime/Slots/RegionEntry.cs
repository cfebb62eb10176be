namespace Hvrt.Slots;

/// <summary>Which ABI entry point a slot request came through; each has its own flag rules.</summary>
internal enum RegionEntry
{
    /// <summary>KVM_SET_USER_MEMORY_REGION: flags limited to LOG_DIRTY_PAGES and READONLY.</summary>
    V1,

    /// <summary>KVM_SET_USER_MEMORY_REGION2: bit 2 is KVM_MEM_GUEST_MEMFD and needs a guest_memfd.</summary>
    Region2,

    /// <summary>The 2022 proposal's _ext struct: bit 2 is KVM_MEM_PRIVATE; memfd and regular files allowed.</summary>
    Ext,
}
