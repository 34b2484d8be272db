"""Data preprocessors."""
from .locca_data_preprocessor import LocCaDataPreprocessor

__all__ = ['LocCaDataPreprocessor']
