"""Visualisation of samples and predictions."""
from .locca_visualizer import LocCaVisualizer, with_text_panel

__all__ = ['LocCaVisualizer', 'with_text_panel']
