namespace Hvrt.Abi;

/// <summary>Versions reported to C callers; must equal HVRT_ABI_VERSION / HVRT_VERSION_* in hvrt.h.</summary>
internal static class AbiVersion
{
    /// <summary>Bumped on any incompatible change of an exported signature or struct layout.</summary>
    public const uint Abi = 1;

    public const uint Major = 0;
    public const uint Minor = 2;
    public const uint Patch = 0;

    /// <summary>X*1000000 + Y*1000 + Z, as SQLITE_VERSION_NUMBER.</summary>
    public const uint Number = Major * 1000000 + Minor * 1000 + Patch;
}
